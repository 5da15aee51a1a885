/**
 * One durable file write for the terminal's sealed stores (fileMessengerStore.ts, fileHistory.ts):
 * a temporary file beside the target (0600, created exclusively), written and fsynced, renamed over
 * the target, then the folder fsynced so that the rename itself survives a crash. When it resolves
 * the new content is on disk; a crash at any point leaves the old content or the new one, never a
 * mix. A write that fails before the rename removes its temporary file.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

export async function writeDurably(file: string, data: Uint8Array): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  const dh = await open(dirname(file), 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
