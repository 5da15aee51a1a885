#!/usr/bin/env node
// A load worker of bench/load.mjs, forked (IPC with advanced serialization). It holds its share of
// the clients (bench/load-layout.mjs: client i belongs to worker i % workers), each a real WebSocket
// speaking the wire protocol (docs/PROTOCOL.md §4) from its own loopback source address, with opaque
// payloads: the relay never reads them, so no MLS is needed to load it (as bench/idle.mjs).
//   connect: every client opens, JOINs its room, CREATEs it with a dummy GroupInfo when told to,
//            and is ready on READY (or the ACK of its CREATE); progress is reported as it goes.
//   run:     APP frames at this worker's share of the total rate, from its clients in turn, for the
//            given seconds. A payload is senderId u32 || counter u32 || send time u64 (ns, the
//            monotonic clock) || filler. Deliveries are binned by the second they arrive in.
//   drain / received / report: the end of the run, and what the coordinator checks (see load.mjs).
// LOAD_FAULT=drop|dup|reorder makes worker 0's receivers mishandle one delivery on purpose, so that a
// test can see the check catch it (apps/cli/test/bench-quick.test.ts).
import WebSocket from 'ws';
import { GroupStatus, SUBPROTOCOL, asEpoch, asReqId, decodeRelayFrame, encodeFrame } from '../packages/protocol/dist/src/index.js';
import { exitOnStop } from './_workers.mjs';
import { layout, locator, shuffled } from './load-layout.mjs';

exitOnStop();
const FAULT = process.env.LOAD_FAULT ?? '';
const OPENING = 32; // connection attempts in flight at once
const REQ_JOIN = 1;
const REQ_CREATE = 2;
const REQ_SYNC = 3;
const REQ_APP = 100; // APP frames count from here
const DELIVER_APP = 2; // DeliveryKind.APP

let cfg;
let clients = []; // this worker's: {id, room, roomSize, url, address, ws, ...}
const errors = {}; // ERROR codes and other trouble, by name: any is a failed run
const note = (what) => (errors[what] = (errors[what] ?? 0) + 1);
let delivered = 0;
let startNs = 0n;
const bins = new Map(); // second of the run -> {delivered, lat: number[] (µs)}
let faultDone = false;
let held; // LOAD_FAULT=reorder: the delivery held back

/**
 * Opens one client's socket and sends its JOIN; resolves then (or when the socket fails). The client
 * becomes ready later, on READY or the ACK of its CREATE: its room's creator may not be open yet.
 */
function start(c) {
  return new Promise((resolve) => {
    const ws = new WebSocket(c.url, SUBPROTOCOL, { perMessageDeflate: false, localAddress: c.address, handshakeTimeout: 30_000 });
    ws.binaryType = 'nodebuffer';
    c.ws = ws;
    c.locator = locator(c.room, cfg.tag);
    ws.once('open', () => {
      c.open = true;
      ws.send(encodeFrame({ type: 'JOIN', reqId: asReqId(REQ_JOIN), room: c.locator }));
      resolve();
    });
    ws.on('message', (data) => onFrame(c, data));
    ws.on('error', (e) => note(`socket error ${e.code ?? e.message}`));
    ws.on('close', (code) => {
      if (!c.closing) note(`closed by the relay (${code})`);
      c.failed = true;
      resolve();
    });
  });
}

function onFrame(c, data) {
  const f = decodeRelayFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  switch (f.type) {
    case 'DELIVER':
      if (f.kind !== DELIVER_APP) return note('a COMMIT delivered');
      return deliver(c, f);
    case 'ACK':
      if (f.reqId >= REQ_APP) {
        c.acked++;
        c.outstanding--;
      } else if (f.reqId === REQ_CREATE) ready(c);
      return;
    case 'GROUP_STATE':
      if (c.isReady) return;
      if (f.status === GroupStatus.CREATE) {
        c.ws.send(encodeFrame({ type: 'CREATE', reqId: asReqId(REQ_CREATE), room: c.locator, groupInfo: cfg.groupInfo }));
      } else if (f.status === GroupStatus.READY) ready(c);
      return;
    case 'ERROR':
      if (f.reqId === REQ_CREATE) {
        // Lost a creation race (the creator's deadline passed, PROTOCOL §4.2): join the group that exists.
        c.ws.send(encodeFrame({ type: 'SYNC', reqId: asReqId(REQ_SYNC), room: c.locator }));
        return note('CREATE refused (then SYNC)');
      }
      if (f.reqId >= REQ_APP) {
        c.refused++;
        c.outstanding--;
      } else if (!c.isReady) c.failed = true; // a JOIN or SYNC refused: this client is out (the coordinator says so)
      return note(`ERROR ${f.code} on ${f.reqId >= REQ_APP ? 'APP' : `request ${f.reqId}`}`);
    case 'JOINED':
    case 'PEER_GONE':
      return;
    default:
      return note(`unexpected ${f.type}`);
  }
}

function ready(c) {
  c.isReady = true;
}

/** One delivery of an APP frame to client `c`: the checks (per sender: in order, once) and the latency. */
function deliver(c, f) {
  const now = process.hrtime.bigint();
  if (FAULT !== '' && cfg.index === 0 && !faultDone && c.seen > 3) {
    faultDone = true;
    if (FAULT === 'drop') return;
    if (FAULT === 'dup') deliver(c, f);
    if (FAULT === 'reorder') {
      held = { c, f };
      return;
    }
  }
  const d = f.data;
  const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const sender = v.getUint32(0);
  const counter = v.getUint32(4);
  const latencyUs = Number(now - v.getBigUint64(8)) / 1000;
  c.seen++;
  if (f.seq <= c.lastSeq) c.seqBackwards++;
  c.lastSeq = f.seq;
  if (sender === c.id || cfg.roomOf[sender] !== c.room) note('a delivery from outside the room, or its own');
  let p = c.from.get(sender);
  if (p === undefined) c.from.set(sender, (p = { next: 0, distinct: 0, dup: 0, reordered: 0, skipped: new Set() }));
  if (counter === p.next) {
    p.next++;
    p.distinct++;
  } else if (counter > p.next) {
    for (let k = p.next; k < counter; k++) p.skipped.add(k);
    p.next = counter + 1;
    p.distinct++;
  } else if (p.skipped.delete(counter)) {
    p.reordered++;
    p.distinct++;
  } else p.dup++;
  delivered++;
  const sec = Math.floor(Number(now - startNs) / 1e9);
  let b = bins.get(sec);
  if (b === undefined) bins.set(sec, (b = { delivered: 0, lat: [] }));
  b.delivered++;
  b.lat.push(latencyUs);
  if (held !== undefined && held.c === c && held.f !== f) {
    const h = held;
    held = undefined;
    deliver(h.c, h.f);
  }
}

async function connect(m) {
  cfg = { ...m, groupInfo: new Uint8Array(m.groupInfoBytes).fill(0x47) };
  const all = layout(cfg);
  cfg.roomOf = all.map((c) => c.room);
  clients = all.filter((c) => c.worker === cfg.index);
  for (const c of clients)
    Object.assign(c, { open: false, isReady: false, sent: 0, acked: 0, refused: 0, outstanding: 0, seen: 0, lastSeq: 0, seqBackwards: 0 });
  for (const c of clients) c.from = new Map();
  const t0 = performance.now();
  const progress = setInterval(() => process.send({ progress: counts() }), 200);
  const todo = clients.slice();
  const opener = async () => {
    for (let c = todo.shift(); c !== undefined; c = todo.shift()) await start(c);
  };
  await Promise.all(Array.from({ length: OPENING }, opener));
  // Then until every client is ready or out (60 s at most: a room whose creator never came).
  const t1 = performance.now();
  while (clients.some((c) => !c.isReady && !c.failed) && performance.now() - t1 < 60_000) await new Promise((r) => setTimeout(r, 50));
  clearInterval(progress);
  return { ...counts(), errors, ms: performance.now() - t0 };
}

const counts = () => ({ open: clients.filter((c) => c.open).length, joined: clients.filter((c) => c.isReady).length });

/** Sends this worker's share of `rate` (messages/s over all workers) for `seconds`, from its clients in turn. */
async function run({ rate, seconds, startNs: s, bytes }) {
  startNs = s;
  const share = (rate * clients.length) / cfg.clients;
  const filler = new Uint8Array(bytes);
  const payload = new DataView(filler.buffer);
  // Everyone starts on the coordinator's mark (the same monotonic clock in every process).
  await new Promise((r) => setTimeout(r, Math.max(0, Number(startNs - process.hrtime.bigint()) / 1e6)));
  const t0 = performance.now();
  let sent = 0;
  let turn = 0;
  const order = shuffled(clients, 0x9e3779b9 + cfg.index);
  const flush = setInterval(flushBins, 1000);
  while (performance.now() - t0 < seconds * 1000) {
    const due = Math.floor(((performance.now() - t0) / 1000) * share);
    for (; sent < due; sent++) {
      const c = order[turn++ % order.length];
      payload.setUint32(0, c.id);
      payload.setUint32(4, c.sent);
      payload.setBigUint64(8, process.hrtime.bigint());
      c.ws.send(
        encodeFrame({ type: 'APP', reqId: asReqId(REQ_APP + (c.sent % 1_000_000)), room: c.locator, epoch: asEpoch(0), data: filler }),
      );
      c.sent++;
      c.outstanding++;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  clearInterval(flush);
  return { sent };
}

/** Sends the finished seconds' deliveries and latencies to the coordinator (all of them with `all`). */
function flushBins(all = false) {
  const current = Math.floor(Number(process.hrtime.bigint() - startNs) / 1e9);
  for (const [sec, b] of bins) {
    if (!all && sec >= current) continue;
    bins.delete(sec);
    process.send({ bin: { sec, delivered: b.delivered, lat: Float64Array.from(b.lat) } });
  }
}

/** Waits (up to `ms`) until every message sent was ACKed or refused. */
async function drain({ ms }) {
  const t0 = performance.now();
  const outstanding = () => clients.reduce((a, c) => a + c.outstanding, 0);
  while (outstanding() > 0 && performance.now() - t0 < ms) await new Promise((r) => setTimeout(r, 50));
  return { outstanding: outstanding() };
}

/** What the coordinator checks: each sender's counts, and each (receiver, sender) pair's. */
function report() {
  flushBins(true);
  if (held !== undefined) deliver(held.c, held.f);
  const senders = clients.map((c) => [c.id, c.sent, c.acked, c.refused]);
  const pairs = [];
  let seqBackwards = 0;
  for (const c of clients) {
    seqBackwards += c.seqBackwards;
    for (const [sender, p] of c.from) pairs.push([c.id, sender, p.distinct, p.dup, p.reordered]);
  }
  return { senders: Int32Array.from(senders.flat()), pairs: Int32Array.from(pairs.flat()), seqBackwards, errors, ...counts() };
}

function close() {
  for (const c of clients) {
    c.closing = true;
    c.ws?.terminate();
  }
  return {};
}

const commands = { connect, run, drain, report, close, received: () => ({ delivered }) };
process.on('message', async (m) => {
  try {
    process.send({ re: m.id, ...(await commands[m.cmd](m)) });
  } catch (e) {
    process.send({ re: m.id, error: e instanceof Error ? e.stack : String(e) });
  }
});
process.send({ hello: true });
