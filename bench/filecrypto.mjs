#!/usr/bin/env node
/**
 * File encryption throughput (STREAM over AES-256-GCM through Web Crypto, @nullroom/crypto's
 * fileCrypto) at several chunk sizes, to choose the default chunk size.
 *
 *   npx tsc -b && node bench/filecrypto.mjs [--mib 256] [--sizes 16,64,256,1024] [--piece 65536]
 *
 * Each measurement runs in a fresh child process so its peak RSS is its own. Measured, for each
 * chunk size (KiB), over --mib MiB of plaintext that is never held in memory as a whole:
 *   seal x1     FileEncryptor.sealChunk, one chunk at a time (no hashing)
 *   seal x4     the same with 4 chunks in flight
 *   enc stream  encryptStream (re-chunking, SHA-256 of the plaintext, 4 in flight) drained
 *   enc+dec     encryptStream piped into decryptStream in one process (both re-chunk and hash);
 *               a real transfer does one side per machine, so each side alone is at least this fast
 * and, at 64 KiB chunks, enc+dec with 1, 2, 4 and 8 chunks in flight; plus references: Web Crypto
 * AES-GCM called directly, and incremental SHA-256 alone (@noble/hashes, hash-wasm, node:crypto). Input arrives in --piece byte pieces, as
 * from a File's stream() or fs.createReadStream. Prints a table; writes nothing.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { sha256 } from '@noble/hashes/sha2.js';
import { FileEncryptor, decryptStream, encryptStream, newFileKey } from '../packages/crypto/dist/src/index.js';

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : dflt;
};
const MIB = Number(opt('mib', '256'));
const SIZES_KIB = opt('sizes', '16,64,256,1024').split(',').filter(Boolean).map(Number);
const PIECE = Number(opt('piece', '65536'));
const TOTAL = MIB * 1024 * 1024;

/** 1 MiB of random bytes that every source reads from, so generating input costs nothing. */
function randomPool() {
  const pool = new Uint8Array(1024 * 1024 + PIECE);
  for (let off = 0; off < pool.byteLength; off += 65536) crypto.getRandomValues(pool.subarray(off, Math.min(pool.byteLength, off + 65536)));
  return pool;
}

/** A plaintext stream of TOTAL bytes in PIECE-byte pieces (the last one shorter). */
function plaintextSource(pool) {
  let sent = 0;
  return new ReadableStream(
    {
      pull(c) {
        if (sent >= TOTAL) return c.close();
        const n = Math.min(PIECE, TOTAL - sent);
        const at = sent % (1024 * 1024);
        c.enqueue(pool.slice(at, at + n));
        sent += n;
      },
    },
    { highWaterMark: 0 },
  );
}

async function drain(readable) {
  let n = 0;
  const reader = readable.getReader();
  for (;;) {
    const r = await reader.read();
    if (r.done) return n;
    n += r.value.byteLength;
  }
}

async function child(mode, chunkKiB, concurrency) {
  const pool = randomPool();
  const key = newFileKey();
  const chunkSize = chunkKiB * 1024;
  const rssStart = process.memoryUsage().rss;
  const t0 = performance.now();
  if (mode === 'seal') {
    const enc = await FileEncryptor.create(key, { chunkSize });
    const n = Math.ceil(TOTAL / chunkSize);
    const inflight = [];
    for (let i = 0; i < n; i++) {
      const at = (i * chunkSize) % (1024 * 1024);
      const plain = pool.subarray(at, at + chunkSize);
      const last = i === n - 1;
      inflight.push(enc.sealChunk(last ? plain.subarray(0, TOTAL - i * chunkSize) : plain, last));
      if (inflight.length >= concurrency) await inflight.shift();
    }
    await Promise.all(inflight);
  } else if (mode === 'enc') {
    const enc = await encryptStream(plaintextSource(pool), key, { chunkSize, concurrency });
    await drain(enc.readable);
    await enc.sha256;
  } else if (mode === 'encdec') {
    const enc = await encryptStream(plaintextSource(pool), key, { chunkSize, concurrency });
    const out = await drain(await decryptStream(enc.readable, key, enc.header, { concurrency }));
    if (out !== TOTAL) throw new Error(`decrypted ${out} of ${TOTAL} bytes`);
    await enc.sha256;
  } else if (mode === 'aes') {
    // Reference: Web Crypto AES-256-GCM called directly, same chunking and depth, no library code.
    const aes = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt']);
    const inflight = [];
    for (let sent = 0, i = 0; sent < TOTAL; sent += chunkSize, i++) {
      const iv = new Uint8Array(12);
      new DataView(iv.buffer).setUint32(7, i);
      const at = sent % (1024 * 1024);
      inflight.push(crypto.subtle.encrypt({ name: 'AES-GCM', iv }, aes, pool.subarray(at, at + Math.min(chunkSize, TOTAL - sent))));
      if (inflight.length >= concurrency) await inflight.shift();
    }
    await Promise.all(inflight);
  } else if (mode.startsWith('hash-')) {
    // Reference: incremental SHA-256 alone. noble is what fileCrypto uses; hash-wasm (already a
    // dependency, runs in browsers too) and node:crypto (Node only) for comparison.
    const h =
      mode === 'hash-noble'
        ? sha256.create()
        : mode === 'hash-wasm'
          ? await (await import('hash-wasm')).createSHA256()
          : (await import('node:crypto')).createHash('sha256');
    for (let sent = 0; sent < TOTAL; sent += chunkSize) {
      const at = sent % (1024 * 1024);
      h.update(pool.subarray(at, at + Math.min(chunkSize, TOTAL - sent)));
    }
    h.digest();
  }
  const seconds = (performance.now() - t0) / 1000;
  const maxRssKiB = process.resourceUsage().maxRSS;
  process.stdout.write(
    JSON.stringify({
      mode,
      chunkKiB,
      concurrency,
      mbPerSec: TOTAL / 1e6 / seconds,
      rssStartMiB: rssStart / 2 ** 20,
      peakRssMiB: maxRssKiB / 1024,
    }) + '\n',
  );
}

function run(mode, chunkKiB, concurrency) {
  const r = spawnSync(
    process.execPath,
    [new URL(import.meta.url).pathname, '--child', mode, String(chunkKiB), String(concurrency), ...argv],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`${mode} ${chunkKiB} KiB x${concurrency} failed:\n${r.stderr}`);
  const res = JSON.parse(r.stdout.trim().split('\n').pop());
  process.stderr.write(
    `  ${mode} ${chunkKiB} KiB x${concurrency}: ${res.mbPerSec.toFixed(0)} MB/s, peak RSS ${res.peakRssMiB.toFixed(0)} MiB\n`,
  );
  return res;
}

async function main() {
  const ci = argv.indexOf('--child');
  if (ci >= 0) return child(argv[ci + 1], Number(argv[ci + 2]), Number(argv[ci + 3]));

  console.log(
    `fileCrypto: ${MIB} MiB per measurement, input pieces of ${PIECE} B; Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'})`,
  );
  const rows = [];
  for (const kib of SIZES_KIB) {
    const seal1 = run('seal', kib, 1);
    const seal4 = run('seal', kib, 4);
    const enc = run('enc', kib, 4);
    const encdec = run('encdec', kib, 4);
    rows.push({ kib, seal1, seal4, enc, encdec });
  }
  const f = (r) => r.mbPerSec.toFixed(0).padStart(6);
  const m = (r) => r.peakRssMiB.toFixed(0).padStart(4);
  console.log('\nMB/s of plaintext (peak RSS MiB of that process)\n');
  console.log('| chunk    | seal x1 | seal x4 | enc stream (RSS) | enc+dec stream (RSS) |');
  console.log('|----------|---------|---------|------------------|----------------------|');
  for (const r of rows) {
    console.log(
      `| ${`${r.kib} KiB`.padEnd(8)} | ${f(r.seal1)}  | ${f(r.seal4)}  | ${f(r.enc)} (${m(r.enc)})    | ${f(r.encdec)} (${m(r.encdec)})        |`,
    );
  }
  console.log('\nenc+dec stream at 64 KiB chunks by chunks in flight\n');
  console.log('| in flight | MB/s   | peak RSS MiB |');
  console.log('|-----------|--------|--------------|');
  for (const c of [1, 2, 4, 8]) {
    const r = run('encdec', 64, c);
    console.log(`| ${String(c).padEnd(9)} | ${f(r)} | ${m(r)}         |`);
  }
  console.log('\nreferences at 64 KiB pieces\n');
  console.log('| what | MB/s |');
  console.log('|------|------|');
  const refs = [
    ['Web Crypto AES-256-GCM direct, 1 in flight', 'aes', 1],
    ['Web Crypto AES-256-GCM direct, 4 in flight', 'aes', 4],
    ['SHA-256 @noble/hashes (used by fileCrypto)', 'hash-noble', 1],
    ['SHA-256 hash-wasm', 'hash-wasm', 1],
    ['SHA-256 node:crypto (Node only)', 'hash-node', 1],
  ];
  let idle = 0;
  for (const [what, mode, c] of refs) {
    const r = run(mode, 64, c);
    idle = r.rssStartMiB;
    console.log(`| ${what} | ${f(r)} |`);
  }
  console.log(`\nA child process's RSS before it starts measuring: ~${idle.toFixed(0)} MiB.`);
}

await main();
