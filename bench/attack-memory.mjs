#!/usr/bin/env node
/**
 * Memory-pinning attack (issue 11, point 3) against a relay process: a room whose GroupInfo is the
 * largest the codec allows (~2 MiB), then N connections from one address that JOIN it, send a few
 * SYNC each and never read. An honest pair in another room chats meanwhile. Reports the relay's
 * RSS (VmRSS, and VmHWM for the peak) before, during and after, as one JSON line.
 *
 *   node bench/attack-memory.mjs [--conns 60] [--syncs 4] [--churn] [--server path/to/server/index.js] [--limits JSON]
 *
 * `--churn`: the creator sends one APP before each attacking connection joins, so the room's seq
 * changes and every attacker gets a freshly encoded READY frame (no sharing): the output budget
 * (maxOutputBytes) is then what bounds the relay.
 *
 * `--store`: instead, every connection creates as many rooms as it may (16) with a ~2 MiB GroupInfo
 * each (the stored GroupInfos had no global budget).
 *
 * `--pong`: the attacking connections also send an unsolicited pong every 500 ms (which `ws` accepts
 * and which used to count as a sign of life), and the attack is held 8 s (three ping intervals)
 * before the relay is measured again: how many of them are still connected, and what it holds.
 *
 * `--server` lets the same attack run against another build (e.g. main's) for before/after numbers.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect as tcp } from 'node:net';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { SUBPROTOCOL, asEpoch, asReqId, decodeRelayFrame, encodeFrame, asLocator, defaultCodecLimits } from '@nullroom/protocol';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? dflt : process.argv[i + 1];
};
const CONNS = Number(arg('conns', '60'));
const SYNCS = Number(arg('syncs', '4'));
const SERVER = arg('server', new URL('../packages/server/dist/src/index.js', import.meta.url).pathname);
const LIMITS = arg('limits', '{}');
const CHURN = process.argv.includes('--churn');
const STORE = process.argv.includes('--store');
const PONG = process.argv.includes('--pong');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const loc = (n) => asLocator(new Uint8Array(32).fill(n));

const child = spawn(
  process.execPath,
  [
    '--input-type=module',
    '-e',
    `
  const { startRelay } = await import(${JSON.stringify(SERVER)});
  const r = await startRelay({ port: 0, blobs: false, limits: ${LIMITS} });
  process.stdout.write(r.port + '\\n');
  // One line of stats per line read on stdin (the counted bytes, where the build has them).
  process.stdin.on('data', () => process.stdout.write(JSON.stringify(r.stats()) + '\\n'));
`,
  ],
  { stdio: ['pipe', 'pipe', 'inherit'] },
);
const port = await new Promise((res) => child.stdout.once('data', (d) => res(Number(String(d).trim()))));
const relayStats = () =>
  new Promise((res) => {
    child.stdout.once('data', (d) => res(JSON.parse(String(d).trim().split('\n')[0])));
    child.stdin.write('\n');
  });
const mem = () => {
  const s = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)[1]) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
};

function peer() {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, SUBPROTOCOL, { perMessageDeflate: false });
  const frames = [];
  const waiters = [];
  ws.on('message', (d) => {
    frames.push(decodeRelayFrame(new Uint8Array(d)));
    for (const w of waiters.splice(0)) w();
  });
  ws.on('error', () => undefined);
  const next = async (...types) => {
    for (;;) {
      const i = frames.findIndex((f) => types.includes(f.type));
      if (i >= 0) return frames.splice(i, 1)[0];
      await new Promise((r) => waiters.push(r));
    }
  };
  return new Promise((res) => ws.once('open', () => res({ ws, next, send: (f) => ws.send(encodeFrame(f)) })));
}

function maskFrame(payload) {
  const n = payload.byteLength;
  const head = n < 126 ? Buffer.from([0x82, 0x80 | n]) : Buffer.from([0x82, 0x80 | 126, n >> 8, n & 0xff]);
  const mask = randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < n; i++) body[i] ^= mask[i & 3];
  return Buffer.concat([head, mask, body]);
}

/** Handshake, JOIN, SYNC × SYNCS, then never read. Resolves with the socket. */
function silent() {
  return new Promise((res, rej) => {
    const s = tcp(port, '127.0.0.1', () =>
      s.write(
        `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${SUBPROTOCOL}\r\n\r\n`,
      ),
    );
    s.on('error', () => undefined);
    s.once('data', (d) => {
      s.pause();
      if (!String(d).startsWith('HTTP/1.1 101')) return rej(new Error(String(d).split('\r\n')[0]));
      s.write(maskFrame(encodeFrame({ type: 'JOIN', reqId: asReqId(1), room: loc(1) })));
      for (let i = 0; i < SYNCS; i++) s.write(maskFrame(encodeFrame({ type: 'SYNC', reqId: asReqId(2 + i), room: loc(1) })));
      if (PONG) {
        const pong = Buffer.from([0x8a, 0x80, 1, 2, 3, 4]); // an empty masked pong
        const t = setInterval(() => s.write(pong), 500);
        s.on('close', () => clearInterval(t));
      }
      res(s);
    });
  });
}

try {
  await sleep(300);
  const idle = mem();
  const creator = await peer();
  creator.send({ type: 'JOIN', reqId: asReqId(1), room: loc(1) });
  await creator.next('GROUP_STATE');
  const groupInfo = new Uint8Array(defaultCodecLimits.maxPayloadBytes).fill(7);
  creator.send({ type: 'CREATE', reqId: asReqId(2), room: loc(1), groupInfo });
  await creator.next('ACK');
  // The honest pair, in another room.
  const [a, b] = [await peer(), await peer()];
  a.send({ type: 'JOIN', reqId: asReqId(1), room: loc(2) });
  await a.next('GROUP_STATE');
  a.send({ type: 'CREATE', reqId: asReqId(2), room: loc(2), groupInfo: Uint8Array.of(1) });
  await a.next('ACK');
  b.send({ type: 'JOIN', reqId: asReqId(1), room: loc(2) });
  await b.next('GROUP_STATE');
  await sleep(200);
  const before = mem();
  const sockets = [];
  let refused = 0;
  let stored = 0;
  const storers = [];
  if (STORE) {
    for (let i = 0; i < CONNS; i++) {
      const p = await peer().catch(() => undefined);
      if (p === undefined) {
        refused++;
        continue;
      }
      storers.push(p);
      for (let k = 0; k < 16; k++) {
        const room = asLocator(randomBytes(32));
        p.send({ type: 'JOIN', reqId: asReqId(1), room });
        const st = await p.next('GROUP_STATE', 'ERROR');
        if (st.type !== 'GROUP_STATE' || st.status !== 1) continue;
        p.send({ type: 'CREATE', reqId: asReqId(2), room, groupInfo });
        const a = await p.next('ACK', 'ERROR');
        if (a.type === 'ACK') stored++;
      }
    }
  } else {
    for (let i = 0; i < CONNS; i++) {
      if (CHURN) creator.send({ type: 'APP', reqId: asReqId(1000 + i), room: loc(1), epoch: asEpoch(0), data: Uint8Array.of(i) });
      await silent().then(
        (s) => sockets.push(s),
        () => refused++,
      );
    }
  }
  const counted = await relayStats();
  // Honest chat during the attack: 50 messages, each round trip timed.
  const rtts = [];
  let peakRss = 0;
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now();
    a.send({ type: 'APP', reqId: asReqId(100 + i), room: loc(2), epoch: asEpoch(0), data: Uint8Array.of(i) });
    const d = await Promise.race([b.next('DELIVER'), sleep(5000).then(() => undefined)]);
    rtts.push(d === undefined ? Infinity : performance.now() - t0);
    peakRss = Math.max(peakRss, mem().rss);
    await sleep(40);
  }
  let held;
  if (PONG) {
    await sleep(8000);
    const st = await relayStats();
    held = { afterMs: 8000, connections: st.connections, rssMiB: Math.round((mem().rss / 2 ** 20) * 10) / 10 };
  }
  const during = mem();
  for (const s of sockets) s.destroy();
  for (const p of storers) p.ws.terminate();
  await sleep(1000);
  const after = mem();
  const MiB = (n) => Math.round((n / 2 ** 20) * 10) / 10;
  const sorted = rtts.sort((x, y) => x - y);
  console.log(
    JSON.stringify({
      server: SERVER,
      conns: CONNS,
      syncs: SYNCS,
      churn: CHURN,
      store: STORE,
      pong: PONG,
      held,
      storedGroupInfos: STORE ? stored : undefined,
      relayCounted: {
        outputMiB: MiB(counted.outputBytes ?? NaN),
        groupInfoMiB: MiB(counted.groupInfoBytes ?? NaN),
        connections: counted.connections,
      },
      limits: JSON.parse(LIMITS),
      groupInfoBytes: groupInfo.byteLength,
      refused,
      rssMiB: {
        idle: MiB(idle.rss),
        beforeAttack: MiB(before.rss),
        peakDuring: MiB(Math.max(peakRss, during.rss)),
        hwm: MiB(during.hwm),
        after: MiB(after.rss),
      },
      growthMiB: MiB(Math.max(peakRss, during.rss) - before.rss),
      honestChat: { delivered: rtts.filter((x) => x !== Infinity).length, of: rtts.length, medianMs: Math.round(sorted[25] * 10) / 10 },
    }),
  );
} finally {
  child.kill('SIGKILL');
  process.exit(0);
}
