/**
 * What a member's avatar is drawn from: their identity key (the key their safety number is made
 * of), kept as hex on lines and members, and hashed into bits for a pattern and a hue (ui/Avatar.tsx).
 * Never the nickname: two people who pick the same name look different.
 */

/** 64 bits of FNV-1a over the key bytes (two lanes with different offsets): enough for a pattern and a hue. */
export function avatarBits(key: Uint8Array): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (const byte of key) {
    a = Math.imul(a ^ byte, 0x01000193) >>> 0;
    b = Math.imul(b ^ byte ^ 0xa5, 0x01000193) >>> 0;
  }
  return [a, b];
}

/** The hex seed kept on lines and members (an identity key as hex). */
export const avatarSeed = (key: Uint8Array): string => Array.from(key, (x) => x.toString(16).padStart(2, '0')).join('');
