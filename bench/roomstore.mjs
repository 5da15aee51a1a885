#!/usr/bin/env node
/**
 * The relay's room store (packages/server/src/sqliteRoomStore.ts): how many deliveries a second it
 * can log durably (each `append` its own transaction, durable against a crash on return, as the
 * relay calls it before it writes the frame), with 1 KiB frames, in one room and spread over 100
 * rooms, the log trimmed to its last 2000 entries per room as the relay's budget would; the
 * latency of one append (median, p99, max: WAL checkpoints included), and how long `load()` of the
 * resulting file takes when the relay starts.
 *
 *   npx tsc -b && node bench/roomstore.mjs        (ROOMSTORE_SECONDS=3 per measurement)
 *
 * Writes bench/results/roomstore.json (bench/_results.mjs).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRoomStore } from '../packages/server/dist/src/index.js';
import { writeResult } from './_results.mjs';

const SECONDS = Number(process.env.ROOMSTORE_SECONDS ?? '3');
const FRAME = 1024;
const KEEP = 2_000;
const dir = mkdtempSync(join(tmpdir(), 'nullroom-bench-roomstore-'));

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const round = (n, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

/** Appends 1 KiB frames round-robin over `rooms` rooms for SECONDS; the numbers, and the load that follows. */
function measure(rooms) {
  const path = join(dir, `rooms-${rooms}.db`);
  const store = openRoomStore(path);
  const keys = Array.from({ length: rooms }, (_, i) => i.toString(16).padStart(64, '0'));
  for (const k of keys) store.createRoom(k, Buffer.from(k, 'hex'));
  const seqs = new Array(rooms).fill(0);
  const frame = new Uint8Array(FRAME).fill(7);
  const lat = [];
  const end = performance.now() + SECONDS * 1000;
  const start = performance.now();
  let n = 0;
  while (performance.now() < end) {
    const r = n % rooms;
    const seq = ++seqs[r];
    const t0 = performance.now();
    store.append(keys[r], { seq, at: Date.now(), frame });
    if (seq % 100 === 0 && seq > KEEP) store.trim(keys[r], seq - KEEP);
    lat.push(performance.now() - t0);
    n++;
  }
  const secs = (performance.now() - start) / 1000;
  store.close();
  lat.sort((a, b) => a - b);
  const t0 = performance.now();
  const again = openRoomStore(path);
  const loaded = again.load();
  const loadMs = performance.now() - t0;
  const entries = loaded.reduce((s, r) => s + r.log.length, 0);
  again.close();
  return {
    rooms,
    frameBytes: FRAME,
    appends: n,
    appendsPerSec: Math.round(n / secs),
    mbPerSec: round((n * FRAME) / secs / 2 ** 20),
    appendUs: { median: round(quantile(lat, 0.5) * 1000), p99: round(quantile(lat, 0.99) * 1000), max: round(lat.at(-1) * 1000) },
    loadMs: round(loadMs),
    loadedEntries: entries,
    fileBytes: statSync(path).size,
  };
}

try {
  const results = [measure(1), measure(100)];
  for (const r of results)
    console.log(
      `${r.rooms} room(s): ${r.appendsPerSec} appends/s of ${r.frameBytes} B (${r.mbPerSec} MiB/s), append median ${r.appendUs.median} µs, p99 ${r.appendUs.p99} µs, max ${r.appendUs.max} µs; load of ${r.loadedEntries} entries ${r.loadMs} ms`,
    );
  const machine = { cpus: cpus().length, loadAvg1m: round(loadavg()[0]), node: process.version };
  writeResult('roomstore', { date: new Date().toISOString(), seconds: SECONDS, machine, results });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
