/**
 * The terminal's message history records (messageHistory.ts; docs/SECURITY.md §13.11): the
 * `SealedRecords` of one account on one relay, each record its own 0600 file beside the
 * conversations' sealed state (fileMessengerStore.ts), under the same key file:
 *
 *   <dir>/messenger/<h>.rec   seal(key, record, aad = "nullroom/v1/history/" || f || 0x00 || name)
 *
 * where h = hex(HMAC-SHA-256(nameKey, f || 0x00 || name)), nameKey = HMAC-SHA-256(key,
 * "nullroom/v1/history-names") and f is the store's own file name: a name tells neither the
 * conversation nor which record it is without the key, and a record moved under another name does
 * not open. A write is durable when it resolves (durableWrite.ts: a temporary file, fsynced,
 * renamed over the old one, then the folder fsynced). A file that does not open is HISTORY_CORRUPT (never "none").
 * Used only by the process holding the store's lock.
 */
import { createHmac } from 'node:crypto';
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { open as unseal, seal } from '@nullroom/crypto';
import type { SealedRecords } from '../browserKeyStore.js';
import { historyCorrupt } from '../historyRecord.js';
import { writeDurably } from './durableWrite.js';

/** Refuse to read a larger record (limits before allocation): 200 messages of 16 Ki characters fit. */
export const MAX_HISTORY_RECORD_BYTES = 32 * 1024 * 1024;

export class FileHistoryRecords implements SealedRecords {
  private readonly nameKey: Buffer;

  constructor(
    private readonly folder: string,
    private readonly f: string,
    private readonly key: CryptoKey,
    rawKey: Uint8Array,
  ) {
    this.nameKey = createHmac('sha256', rawKey).update('nullroom/v1/history-names').digest();
  }

  async put(name: string, value: Uint8Array): Promise<void> {
    const sealed = await seal(this.key, value, this.aad(name));
    await writeDurably(this.path(name), sealed);
  }

  async get(name: string): Promise<Uint8Array | undefined> {
    let sealed: Buffer;
    try {
      sealed = await readFile(this.path(name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    if (sealed.byteLength > MAX_HISTORY_RECORD_BYTES) throw historyCorrupt('a record is too large');
    const plain = await unseal(this.key, new Uint8Array(sealed), this.aad(name));
    if (plain === undefined) throw historyCorrupt('a record does not open with its key');
    return plain;
  }

  async remove(name: string): Promise<void> {
    await unlink(this.path(name)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }

  private path(name: string): string {
    const h = createHmac('sha256', this.nameKey).update(`${this.f}\0${name}`).digest('hex');
    return join(this.folder, `${h}.rec`);
  }

  private aad(name: string): Uint8Array {
    return new TextEncoder().encode(`nullroom/v1/history/${this.f}\0${name}`);
  }
}
