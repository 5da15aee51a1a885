/**
 * Blobs kept across a relay restart (docs/PROTOCOL.md §9, "Restarts"): with `keep`, each blob's
 * directory holds, beside its committed chunks, a `.record` file written when the blob is made:
 * the SHA-256 of its write token and the room (locator key) it is charged to. No address, no name,
 * nothing a member sent in the clear: chunks are ciphertext, and the record is what the relay held
 * in memory. On start, every directory whose record reads back is taken up again, its TTL (the
 * rooms', or the accounts' retention for a blob charged to an account) counted from its newest
 * chunk's modification time; anything else (a record that does not parse, a blob
 * past its TTL, a directory with no chunk) is removed.
 */
import { readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { charge } from './blobQuotas.js';

export const RECORD = '.record';
const HEX_ID = /^[0-9a-f]{32}$/;
const CHUNK = /^(?:0|[1-9][0-9]{0,9})$/;

export interface KeptBlob {
  readonly id: string;
  readonly dir: string;
  readonly tokenHash: Buffer;
  readonly room: string;
  /** index -> size. */
  readonly chunks: Map<number, number>;
  /** Their sizes summed, and as charged against the quotas (blobQuotas.ts `charge`). */
  readonly bytes: number;
  readonly charged: number;
  /** Wall-clock time of the newest chunk (ms). */
  readonly lastWriteWall: number;
}

/** Writes a new blob's record (its directory exists). */
export function writeRecord(dir: string, tokenHash: Buffer, room: string): Promise<void> {
  return writeFile(join(dir, RECORD), JSON.stringify({ v: 1, token: tokenHash.toString('hex'), room }), { mode: 0o600, flag: 'wx' });
}

async function readRecord(dir: string): Promise<{ tokenHash: Buffer; room: string } | undefined> {
  try {
    const j = JSON.parse(await readFile(join(dir, RECORD), 'utf8')) as Record<string, unknown>;
    if (j['v'] !== 1 || typeof j['token'] !== 'string' || !/^[0-9a-f]{64}$/.test(j['token'])) return undefined;
    if (typeof j['room'] !== 'string' || j['room'].length === 0 || j['room'].length > 256) return undefined;
    return { tokenHash: Buffer.from(j['token'], 'hex'), room: j['room'] };
  } catch {
    return undefined;
  }
}

/**
 * The blobs under `root` that can be taken up, newest first, at most `max` of them (removing the
 * rest, and whatever is past its `ttlMs` or does not read back). `skip`: names that are not blobs.
 */
export async function readKept(root: string, ttlMs: (room: string) => number, max: number, skip: ReadonlySet<string>): Promise<KeptBlob[]> {
  const out: KeptBlob[] = [];
  const now = Date.now();
  for (const name of await readdir(root)) {
    if (skip.has(name)) continue;
    const dir = join(root, name);
    const blob = HEX_ID.test(name) ? await readBlob(dir, name) : undefined;
    if (blob === undefined || now - blob.lastWriteWall >= ttlMs(blob.room)) await rm(dir, { recursive: true, force: true });
    else out.push(blob);
  }
  out.sort((a, b) => b.lastWriteWall - a.lastWriteWall);
  for (const extra of out.splice(max)) await rm(extra.dir, { recursive: true, force: true });
  return out;
}

async function readBlob(dir: string, hexId: string): Promise<KeptBlob | undefined> {
  const record = await readRecord(dir);
  if (record === undefined) return undefined;
  const chunks = new Map<number, number>();
  let lastWriteWall = 0;
  let bytes = 0;
  let charged = 0;
  for (const f of await readdir(dir)) {
    if (f === RECORD) continue;
    if (!CHUNK.test(f)) return undefined;
    const s = await stat(join(dir, f));
    if (!s.isFile()) return undefined;
    chunks.set(Number(f), s.size);
    bytes += s.size;
    charged += charge(s.size);
    lastWriteWall = Math.max(lastWriteWall, s.mtimeMs);
  }
  if (chunks.size === 0) return undefined;
  return { id: Buffer.from(hexId, 'hex').toString('base64url'), dir, ...record, chunks, bytes, charged, lastWriteWall };
}
