/**
 * What a received file may become on this device, whatever its sender claims: a name that is safe
 * to save under, and whether it may be shown as an image. The name, size and type of a file come
 * from a peer (inside an authenticated MLS message, but a peer may be hostile), so both clients pass
 * them through here. Platform-neutral: the browser app and the terminal client share it.
 */

/** The raster formats a client shows (as an image, never as a document). Anything else is only ever saved. */
export const PREVIEW_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'] as const;
export type PreviewType = (typeof PREVIEW_TYPES)[number];

export const isPreviewType = (mime: string): mime is PreviewType => (PREVIEW_TYPES as readonly string[]).includes(mime);

/** How many of a file's first bytes `sniffImage` needs. */
export const SNIFF_BYTES = 12;

const startsWith = (b: Uint8Array, at: number, sig: readonly number[]) =>
  b.byteLength >= at + sig.length && sig.every((v, i) => b[at + i] === v);
const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));

/**
 * The allowlisted format that `head` (a file's first bytes) really is, by its signature, or
 * undefined. The patterns are the WHATWG MIME Sniffing Standard's image type patterns (§6.1),
 * restricted to PREVIEW_TYPES.
 */
export function sniffImage(head: Uint8Array): PreviewType | undefined {
  if (startsWith(head, 0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png'; // PNG signature (ISO/IEC 15948 §5.2)
  if (startsWith(head, 0, [0xff, 0xd8, 0xff])) return 'image/jpeg'; // SOI then the first marker (ITU T.81 B.1.1.3)
  if (startsWith(head, 0, ascii('GIF87a')) || startsWith(head, 0, ascii('GIF89a'))) return 'image/gif'; // GIF89a spec §17 (Header)
  if (startsWith(head, 0, ascii('RIFF')) && startsWith(head, 8, ascii('WEBP'))) return 'image/webp'; // WebP container, "RIFF Header" (RFC 9649)
  return undefined;
}

/**
 * The type a received file is kept and offered as: the raster format it really is when the sender
 * declared an allowlisted format and the bytes are one (a PNG that is really a JPEG shows as the
 * JPEG it is), else `application/octet-stream`, which a browser only ever saves, never renders.
 */
export function receivedType(declared: string, head: Uint8Array): PreviewType | 'application/octet-stream' {
  const sniffed = isPreviewType(declared) ? sniffImage(head) : undefined;
  return sniffed ?? 'application/octet-stream';
}

/** File names are capped well below the 255 bytes most file systems allow, leaving room for " (9999)". */
export const MAX_FILE_NAME_BYTES = 200;

// Control characters, format characters (bidirectional overrides and isolates, zero-width space,
// soft hyphen, BOM, tags: they make a name read differently from what it is, e.g. "photo‮gpj.exe"),
// line and paragraph separators, lone surrogates; ZWNJ and ZWJ stay (scripts and emoji need them).
const INVISIBLE = /(?![\u200c\u200d])[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;
// Path separators and what Windows forbids in a name.
const RESERVED = /[/\\:*?"<>|]/g;
// Windows device names, with or without an extension ("nul.txt" is the device too).
const DEVICE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$|clock\$)\s*(\.|$)/i;

const utf8Length = (s: string) => new TextEncoder().encode(s).byteLength;

/** `s` cut to at most `max` UTF-8 bytes, on a code point boundary. */
function cutUtf8(s: string, max: number): string {
  let out = '';
  let bytes = 0;
  for (const cp of s) {
    const n = utf8Length(cp);
    if (bytes + n > max) break;
    out += cp;
    bytes += n;
  }
  return out;
}

/**
 * A peer-chosen file name made safe to save: only its last path segment; no control, format or
 * bidirectional characters and nothing Windows forbids (each becomes "_"); no leading dot (a hidden
 * file) or space, no trailing dot or space (Windows drops them: "a.exe." would be "a.exe"); never a
 * device name; at most MAX_FILE_NAME_BYTES of UTF-8, keeping a short extension; never empty.
 */
export function safeFileName(name: string): string {
  const last = name.replace(/\\/g, '/').split('/').pop() ?? '';
  let n = fit(
    last
      .replace(INVISIBLE, '_')
      .replace(RESERVED, '_')
      .replace(/^[.\s]+/, '')
      .replace(/[.\s]+$/, ''),
  );
  if (DEVICE.test(n)) n = fit(`_${n}`);
  return n === '' ? 'file' : n;
}

/** `n` within MAX_FILE_NAME_BYTES: its stem cut on a code point boundary, a short extension kept. */
function fit(n: string): string {
  if (utf8Length(n) <= MAX_FILE_NAME_BYTES) return n;
  const dot = n.lastIndexOf('.');
  const ext = dot > 0 && utf8Length(n.slice(dot)) <= 16 ? n.slice(dot) : '';
  return cutUtf8(n.slice(0, n.length - ext.length), MAX_FILE_NAME_BYTES - utf8Length(ext)).replace(/[.\s]+$/, '') + ext;
}
