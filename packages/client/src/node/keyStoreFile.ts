/**
 * The terminal key store's file (fileKeyStore.ts): its schema, its strict reading (owner and mode
 * checked, size bounded before reading, anything off is KEY_STORE_CORRUPT or KEY_STORE_UNSAFE) and
 * its writing, without the locking and merging that the store itself does.
 *
 *   <dir>/                  0700, created if missing ($XDG_CONFIG_HOME/nullroom, else ~/.config/nullroom)
 *   <dir>/keystore.json     0600: {"v":1, "index": b64 HMAC key,
 *                             "rooms": {r: {"ids": [[own nick, {"pkcs8", "pub"}]...], "known": [[nick, hex key, verified]...]}}}
 *   <dir>/keystore.json.lock   held for the few milliseconds of a read-merge-write
 *
 * where r = hex(HMAC-SHA-256(index, room locator)).
 */
import { constants, type BigIntStats } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { type IdentitySigner, identitySigner } from '@nullroom/crypto';
import { fromBase64, toBase64 } from '../encoding.js';
import { ClientError } from '../errors.js';

export const KEY_STORE_FILE = 'keystore.json';
/** Refuse to read a larger file (limits before allocation): ~100 bytes a remembered member, so about 150k members. */
export const MAX_KEY_STORE_BYTES = 16 * 1024 * 1024;

/** $XDG_CONFIG_HOME/nullroom when XDG_CONFIG_HOME is an absolute path (XDG Base Directory spec), else ~/.config/nullroom. */
export function defaultKeyStoreDir(env: Record<string, string | undefined> = process.env): string {
  const xdg = env['XDG_CONFIG_HOME'];
  return join(xdg !== undefined && xdg.startsWith('/') ? xdg : join(homedir(), '.config'), 'nullroom');
}

const b64 = z
  .string()
  .max(1024)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/);
const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const keyHex = z.string().regex(/^(?:[0-9a-f]{2}){1,128}$/);
/** Longer than any nickname (docs/PROTOCOL.md §5: 32 characters), so a stored one always reads back. */
export const MAX_NICK = 256;
const FileSchema = z.strictObject({
  v: z.literal(1),
  index: b64,
  rooms: z.record(
    hex64,
    z.strictObject({
      ids: z.array(z.tuple([z.string().max(MAX_NICK), z.strictObject({ pkcs8: b64, pub: b64 })])),
      known: z.array(z.tuple([z.string().min(1).max(MAX_NICK), keyHex, z.boolean()])),
    }),
  ),
});

export interface StoredKey {
  pkcs8: string;
  pub: string;
}
export interface RoomRecord {
  ids: Map<string, StoredKey>;
  known: Map<string, [string, boolean]>;
}
export interface Contents {
  index: Uint8Array;
  rooms: Map<string, RoomRecord>;
}

export const corrupt = (file: string, why: string, cause?: unknown) =>
  new ClientError(
    'KEY_STORE_CORRUPT',
    `the key store ${file} is damaged (${why}); it was left as it is: move it away to start over (every member then counts as new), or restore a backup`,
    cause === undefined ? undefined : { cause },
  );
export const unsafe = (path: string, why: string) => new ClientError('KEY_STORE_UNSAFE', `refusing to use the key store ${path}: ${why}`);

export const isErrno = (e: unknown, code: string): boolean => (e as NodeJS.ErrnoException | null)?.code === code;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const myUid = (): number | undefined => (typeof process.getuid === 'function' ? process.getuid() : undefined);

export function checkFolder(
  dir: string,
  st: { uid: number | bigint; mode: number | bigint; isDirectory(): boolean; isSymbolicLink(): boolean },
): void {
  if (!st.isDirectory()) throw unsafe(dir, 'it is not a folder');
  const uid = myUid();
  if (uid === undefined) return; // Windows: no POSIX modes; the profile folder's ACL applies
  if (Number(st.uid) !== uid) throw unsafe(dir, 'the folder belongs to another user');
  if ((Number(st.mode) & 0o022) !== 0) throw unsafe(dir, `the folder is writable by group or others (chmod 700 ${dir})`);
}

export function checkFile(file: string, st: BigIntStats): void {
  if (!st.isFile()) throw unsafe(file, 'it is not a regular file');
  const uid = myUid();
  if (uid === undefined) return;
  if (Number(st.uid) !== uid) throw unsafe(file, 'the file belongs to another user');
  // ssh's rule for private keys: no access at all for group or others.
  if ((Number(st.mode) & 0o077) !== 0) throw unsafe(file, `the file is readable or writable by group or others (chmod 600 ${file})`);
}

export function decode(file: string, text: string): Contents {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw corrupt(file, 'not JSON', e);
  }
  const parsed = FileSchema.safeParse(json);
  if (!parsed.success) throw corrupt(file, 'not in the expected format');
  // The schema library skips a "__proto__" key in a record instead of refusing it: check every name ourselves.
  const names = Object.keys((json as { rooms: object }).rooms);
  if (names.length !== Object.keys(parsed.data.rooms).length || names.some((n) => !/^[0-9a-f]{64}$/.test(n)))
    throw corrupt(file, 'not in the expected format');
  let index: Uint8Array;
  try {
    index = fromBase64(parsed.data.index);
  } catch (e) {
    throw corrupt(file, 'bad index key', e);
  }
  if (index.byteLength !== 32) throw corrupt(file, 'bad index key');
  const rooms = new Map<string, RoomRecord>();
  for (const [r, rec] of Object.entries(parsed.data.rooms)) {
    const known = new Map<string, [string, boolean]>();
    for (const [nick, key, verified] of rec.known) {
      if (known.has(nick)) throw corrupt(file, 'a member is listed twice');
      known.set(nick, [key, verified]);
    }
    const ids = new Map<string, StoredKey>();
    for (const [nick, id] of rec.ids) {
      if (ids.has(nick)) throw corrupt(file, 'an identity is listed twice');
      ids.set(nick, id);
    }
    rooms.set(r, { ids, known });
  }
  return { index, rooms };
}

export function encode(c: Contents): string {
  const rooms: Record<string, unknown> = {};
  for (const [r, rec] of c.rooms) rooms[r] = { ids: [...rec.ids], known: [...rec.known].map(([n, [k, v]]) => [n, k, v]) };
  return `${JSON.stringify({ v: 1, index: toBase64(c.index), rooms })}\n`;
}

export async function readChecked(file: string): Promise<{ contents: Contents; stamp: string } | undefined> {
  let fh: FileHandle;
  try {
    // O_NOFOLLOW: a symlink planted in our folder is refused (ELOOP), never followed.
    fh = await open(file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return undefined;
    if (isErrno(e, 'ELOOP')) throw unsafe(file, 'it is a symbolic link');
    throw new ClientError('KEY_STORE', `cannot open the key store ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e });
  }
  try {
    const st = await fh.stat({ bigint: true });
    checkFile(file, st);
    if (st.size > BigInt(MAX_KEY_STORE_BYTES)) throw corrupt(file, `larger than ${MAX_KEY_STORE_BYTES} bytes`);
    const text = await fh.readFile('utf8');
    return { contents: decode(file, text), stamp: `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}` };
  } finally {
    await fh.close();
  }
}

/** A fresh Ed25519 identity whose private key we can store (PKCS#8), through Web Crypto. */
/** The signer of a stored identity (imported non-extractable); undefined when it does not load. */
export async function loadStoredIdentity(id: StoredKey): Promise<IdentitySigner | undefined> {
  try {
    const privateKey = await globalThis.crypto.subtle.importKey('pkcs8', new Uint8Array(fromBase64(id.pkcs8)), { name: 'Ed25519' }, false, [
      'sign',
    ]);
    const publicKey = fromBase64(id.pub);
    return publicKey.byteLength === 32 ? identitySigner({ privateKey, publicKey }) : undefined;
  } catch {
    return undefined;
  }
}

/** A new Ed25519 identity, as the terminal stores it (PKCS#8 and the raw public key, base64). */
export async function newIdentity(): Promise<StoredKey> {
  const pair = (await globalThis.crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const pkcs8 = new Uint8Array(await globalThis.crypto.subtle.exportKey('pkcs8', pair.privateKey));
  const pub = new Uint8Array(await globalThis.crypto.subtle.exportKey('raw', pair.publicKey));
  return { pkcs8: toBase64(pkcs8), pub: toBase64(pub) };
}
