/** The file the transfer benchmarks send: `mib` MiB of deterministic bytes, and its SHA-256. */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Writes `dir/name`, `mib` MiB of a cheap deterministic pattern (no compression could shortcut it). */
export function makeFile(dir, name, mib) {
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < Math.ceil(mib / 8); i++) {
    for (let j = 0; j < block.length; j += 4) block.writeUInt32LE((i * 2654435761 + j * 40503) >>> 0, j);
    writeSync(fd, block, 0, Math.min(block.length, mib * 2 ** 20 - i * block.length));
  }
  closeSync(fd);
  return path;
}

export async function sha256File(path) {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk);
  return h.digest('hex');
}
