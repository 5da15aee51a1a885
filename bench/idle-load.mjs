#!/usr/bin/env node
// The clients for bench/idle.mjs, forked: `connect` opens N WebSockets to the server, from source
// addresses 127.0.0.2, .3, ... (PER_ADDRESS each: one source address has only ~28k ephemeral ports,
// and the relay caps connections and new rooms per address), then, against the relay, joins them
// to rooms of ROOM members as a real client does: the room's first member JOINs, is told to CREATE
// and uploads a (dummy) GroupInfo; the others JOIN and receive READY with it. Then they sit idle,
// answering pings (the `ws` library does). Answers {cmd: 'connect', mode, port, n, room, groupInfo}.
import WebSocket from 'ws';
import { GroupStatus, SUBPROTOCOL, asReqId, decodeRelayFrame, encodeFrame } from '../packages/protocol/dist/src/index.js';

const PER_ADDRESS = 100;
const PARALLEL_ROOMS = 16;
const sockets = [];
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => process.exit(0));

function open(mode, port, i) {
  const localAddress = `127.0.0.${2 + Math.floor(i / PER_ADDRESS)}`;
  const opts = { perMessageDeflate: false, localAddress };
  return new Promise((resolve, reject) => {
    const ws =
      mode === 'relay' ? new WebSocket(`ws://127.0.0.1:${port}/ws`, SUBPROTOCOL, opts) : new WebSocket(`ws://127.0.0.1:${port}`, opts);
    ws.binaryType = 'nodebuffer';
    ws.once('error', reject);
    ws.once('open', () => {
      ws.off('error', reject);
      ws.on('error', () => {});
      sockets.push(ws);
      resolve(ws);
    });
  });
}

/** Resolves with the first frame from `ws` that `pred` accepts. */
function next(ws, pred) {
  return new Promise((resolve) => {
    const on = (data) => {
      const f = decodeRelayFrame(new Uint8Array(data));
      if (!pred(f)) return;
      ws.off('message', on);
      resolve(f);
    };
    ws.on('message', on);
  });
}

/** One room: its first member joins and creates, then the others join and wait for READY. */
async function room(port, first, size, groupInfo) {
  const locator = new Uint8Array(32);
  new DataView(locator.buffer).setUint32(0, first);
  const members = [];
  for (let i = first; i < first + size; i++) members.push(await open('relay', port, i));
  const creator = members[0];
  const told = next(creator, (f) => f.type === 'GROUP_STATE' || f.type === 'ERROR');
  creator.send(encodeFrame({ type: 'JOIN', reqId: asReqId(1), room: locator }));
  const state = await told;
  if (state.type !== 'GROUP_STATE' || state.status !== GroupStatus.CREATE)
    throw new Error(`room ${first}: expected CREATE, got ${JSON.stringify(state)}`);
  const acked = next(creator, (f) => f.type === 'ACK' || f.type === 'ERROR');
  creator.send(encodeFrame({ type: 'CREATE', reqId: asReqId(2), room: locator, groupInfo }));
  if ((await acked).type !== 'ACK') throw new Error(`room ${first}: CREATE refused`);
  await Promise.all(
    members.slice(1).map(async (ws) => {
      const ready = next(ws, (f) => (f.type === 'GROUP_STATE' && f.status === GroupStatus.READY) || f.type === 'ERROR');
      ws.send(encodeFrame({ type: 'JOIN', reqId: asReqId(1), room: locator }));
      const f = await ready;
      if (f.type !== 'GROUP_STATE') throw new Error(`room ${first}: JOIN refused (${f.code})`);
    }),
  );
  return { locator, members };
}

/**
 * Opens (and joins) `n` connections. `warm`: the warm-up before the server's baseline is measured
 * (its code compiled, its lazily made state made): they leave their rooms (LEAVE, so that no away
 * slot stays behind) and close, and the addresses after the kept connections' are used.
 */
async function connect({ mode, port, n, room: size, groupInfo: giBytes, warm = false }) {
  const t0 = performance.now();
  // Warm-up connections come from addresses of their own (127.0.0.202 on), not charged to the kept ones'.
  const base = warm ? 20_000 : 0;
  if (mode === 'relay') {
    const groupInfo = new Uint8Array(giBytes).fill(0x47);
    const firsts = [];
    for (let i = 0; i < n; i += size) firsts.push(i);
    const rooms = [];
    const work = async () => {
      for (let f = firsts.shift(); f !== undefined; f = firsts.shift())
        rooms.push(await room(port, base + f, Math.min(size, n - f), groupInfo));
    };
    await Promise.all(Array.from({ length: PARALLEL_ROOMS }, work));
    if (warm) {
      for (const { locator, members } of rooms) {
        await Promise.all(
          members.map((ws) => {
            const left = next(ws, (f) => f.type === 'ACK' || f.type === 'ERROR');
            ws.send(encodeFrame({ type: 'LEAVE', reqId: asReqId(3), room: locator }));
            return left;
          }),
        );
      }
    }
  } else {
    const todo = Array.from({ length: n }, (_, i) => i);
    const work = async () => {
      for (let i = todo.shift(); i !== undefined; i = todo.shift()) await open(mode, port, base + i);
    };
    await Promise.all(Array.from({ length: PARALLEL_ROOMS * 4 }, work));
  }
  if (warm) {
    const closing = sockets.splice(0).map((ws) => new Promise((r) => (ws.once('close', r), ws.close())));
    await Promise.all(closing);
  }
  return { open: sockets.filter((s) => s.readyState === WebSocket.OPEN).length, ms: performance.now() - t0 };
}

process.on('message', async (m) => {
  try {
    if (m.cmd === 'connect') process.send({ re: m.id, ...(await connect(m)) });
    else if (m.cmd === 'count') process.send({ re: m.id, open: sockets.filter((s) => s.readyState === WebSocket.OPEN).length });
  } catch (e) {
    process.send({ re: m.id, error: e instanceof Error ? e.message : String(e) });
  }
});
process.send({ ready: true });
