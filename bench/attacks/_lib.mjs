/**
 * What the attack suite (bench/attack.mjs) and the HTTP fuzzer (bench/fuzz-http.mjs) share: a real
 * relay process (`nullroom serve`) watched from outside (RSS from /proc, liveness, its last stderr
 * lines), raw TCP and raw WebSocket clients for the attacker (nothing in them is polite: they write
 * what they like and read only when they choose to), and honest SDK members that chat and send
 * files, with probes that say whether, and how fast, they still can.
 *
 * Everything binds to 127.0.0.1 and is bounded in count and time by its caller.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { NullroomClient, RoomFiles, randomRoomSecret } from '../../packages/client/dist/src/index.js';
import { fileSource, folderSink, nodeFileOptions, nodeWebSocket } from '../../packages/client/dist/src/node/index.js';
import { decodeRelayFrame, encodeFrame } from '../../packages/protocol/dist/src/index.js';

export const root = new URL('../../', import.meta.url).pathname;
export const BIN = `${root}apps/cli/dist/src/main.js`;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const MiB = 2 ** 20;
export { randomRoomSecret, encodeFrame, decodeRelayFrame };

/** Resolves with `p`'s value, or with `fallback` after `ms`. */
export function within(p, ms, fallback = undefined) {
  let t;
  return Promise.race([p, new Promise((r) => (t = setTimeout(() => r(fallback), ms)))]).finally(() => clearTimeout(t));
}

// ---------------------------------------------------------------------------------------------
// The relay under attack: its own process, so that its memory is its own and its death is seen.
// ---------------------------------------------------------------------------------------------

function readStatus(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024;
    return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
  } catch {
    return undefined;
  }
}

/**
 * Starts `nullroom serve --port 0` (plus `args`) and samples its RSS every `sampleMs`.
 * @returns {Promise<RelayProc>}
 */
export async function startRelay({ args = [], sampleMs = 50, env = {} } = {}) {
  const data = mkdtempSync(join(tmpdir(), 'nullroom-attack-'));
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data', data, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const stderr = [];
  createInterface({ input: child.stderr }).on('line', (l) => {
    stderr.push(l);
    if (stderr.length > 60) stderr.shift();
  });
  let exit;
  const exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      exit = { code, signal, at: performance.now() };
      resolve(exit);
    }),
  );
  const url = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('relay did not start within 15 s')), 15_000);
    createInterface({ input: child.stdout }).on('line', (l) => {
      if (l.startsWith('nullroom listening on ')) {
        clearTimeout(t);
        resolve(l.slice('nullroom listening on '.length));
      }
    });
    void exited.then(() => reject(new Error(`relay exited before listening: ${stderr.slice(-5).join(' | ')}`)));
  });
  const u = new URL(url);
  let peakRss = 0;
  let lastHwm = 0;
  const sample = () => {
    const s = readStatus(child.pid);
    if (s === undefined) return;
    if (s.rss > peakRss) peakRss = s.rss;
    if (s.hwm > lastHwm) lastHwm = s.hwm;
  };
  sample();
  const baselineRss = peakRss;
  const sampler = setInterval(sample, sampleMs);
  sampler.unref();
  return {
    url,
    host: u.hostname,
    port: Number(u.port),
    pid: child.pid,
    baselineRss,
    /** The largest RSS seen: the kernel's high-water mark (VmHWM) and our own samples. */
    peakRss: () => (sample(), Math.max(peakRss, lastHwm)),
    rss: () => readStatus(child.pid)?.rss ?? 0,
    alive: () => exit === undefined,
    exit: () => exit,
    exited,
    stderr,
    /** Stops the relay (SIGTERM, then SIGKILL after 3 s) and removes its data directory. */
    async stop() {
      clearInterval(sampler);
      sample();
      if (exit === undefined) {
        child.kill('SIGTERM');
        if ((await within(exited, 3000, 'late')) === 'late') child.kill('SIGKILL');
        await exited;
      }
      rmSync(data, { recursive: true, force: true });
    },
  };
}

/** GET /healthz on a fresh connection: true when the relay answers 200 within `ms`. */
export function healthy(relay, ms = 3000) {
  return within(
    new Promise((resolve) => {
      const s = net.connect(relay.port, relay.host);
      let buf = '';
      s.setEncoding('latin1');
      s.on('connect', () => s.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'));
      s.on('data', (d) => (buf += d));
      s.on('error', () => resolve(false));
      s.on('close', () => resolve(buf.startsWith('HTTP/1.1 200')));
    }),
    ms,
    false,
  );
}

// ---------------------------------------------------------------------------------------------
// Raw TCP and raw WebSocket for the attacker.
// ---------------------------------------------------------------------------------------------

/** Connects a raw TCP socket; resolves once connected (rejects on error). */
/** `from`: the loopback address to connect from (an attacker spread over several hosts). */
export function tcp(relay, from = undefined) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port: relay.port, host: relay.host, ...(from === undefined ? {} : { localAddress: from }) });
    s.once('connect', () => {
      s.off('error', reject);
      s.on('error', () => s.destroy());
      resolve(s);
    });
    s.once('error', reject);
  });
}

/**
 * Sends `request` (a string or Buffer) on a fresh connection and resolves with the status code of
 * the first response (or 'closed' / 'timeout'), and the raw head.
 */
/** `from`: a local (loopback) address to send from, for an honest client that is not the attacker's address. */
export function rawRequest(relay, request, ms = 3000, from = undefined) {
  return within(
    new Promise((resolve) => {
      const s = net.connect({ port: relay.port, host: relay.host, ...(from === undefined ? {} : { localAddress: from }) });
      let buf = '';
      s.setEncoding('latin1');
      const done = (status) => {
        s.destroy();
        resolve({ status, head: buf.slice(0, buf.indexOf('\r\n\r\n') + 1 || 200) });
      };
      s.on('connect', () => s.write(request));
      s.on('data', (d) => {
        buf += d;
        const m = /^HTTP\/1\.1 (\d{3})/.exec(buf);
        if (m !== null) done(Number(m[1]));
      });
      s.on('error', () => done('closed'));
      s.on('close', () => done('closed'));
    }),
    ms,
    { status: 'timeout', head: '' },
  );
}

/** One client WebSocket frame (RFC 6455 §5.2), masked with key 0 (the server must unmask; any key is valid). */
export function wsFrame(payload, opcode = 0x2, fin = true) {
  const len = payload.length;
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const b = Buffer.allocUnsafe(head + 4 + len);
  b[0] = (fin ? 0x80 : 0) | opcode;
  if (len < 126) b[1] = 0x80 | len;
  else if (len < 65536) {
    b[1] = 0x80 | 126;
    b.writeUInt16BE(len, 2);
  } else {
    b[1] = 0x80 | 127;
    b.writeBigUInt64BE(BigInt(len), 2);
  }
  b.writeUInt32BE(0, head);
  Buffer.from(payload.buffer, payload.byteOffset, len).copy(b, head + 4);
  return b;
}

export function upgradeRequest({ path = '/ws', origin, protocol = 'nullroom.v1', extra = '' } = {}) {
  return (
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
    (protocol === undefined ? '' : `Sec-WebSocket-Protocol: ${protocol}\r\n`) +
    (origin === undefined ? '' : `Origin: ${origin}\r\n`) +
    `${extra}\r\n`
  );
}

/**
 * A raw WebSocket to the relay's /ws: the attacker's tool. Answers pings only when `pong` is set,
 * can stop reading (`pause()`), sends unsolicited pongs on its own timer (`pongEvery`), and decodes
 * the frames it reads (unless paused). Resolves once the relay answered 101; rejects with the
 * status otherwise.
 */
export function rawWs(relay, { origin, pong = true, pongEvery = 0, path = '/ws', discard = false } = {}) {
  // biome-ignore lint/nursery/noMisusedPromises: the executor returns nothing; Biome attributes an inner function's Promise to it
  return new Promise((resolve, reject) => {
    const s = net.connect(relay.port, relay.host);
    let buf = Buffer.alloc(0);
    let open = false;
    let closed = false;
    const frames = [];
    const waiters = new Set();
    let timer;
    let discarding = discard;
    const ws = {
      socket: s,
      /** From now on, read and drop whatever arrives, unparsed. */
      discard() {
        discarding = true;
        buf = Buffer.alloc(0);
      },
      frames,
      get closed() {
        return closed;
      },
      send(frame) {
        if (!closed) s.write(wsFrame(encodeFrame(frame)));
      },
      sendRaw(bytes) {
        if (!closed) s.write(bytes);
      },
      pause() {
        s.pause();
      },
      /** Resolves with the first received frame matching `pred` (now or later), or undefined after `ms`. */
      next(pred, ms = 5000) {
        const hit = frames.find(pred);
        if (hit !== undefined) return Promise.resolve(hit);
        return within(
          new Promise((res) => {
            const w = (f) => {
              if (f === null) {
                waiters.delete(w);
                return res(undefined);
              }
              if (pred(f)) {
                waiters.delete(w);
                res(f);
              }
            };
            waiters.add(w);
          }),
          ms,
        );
      },
      close() {
        clearInterval(timer);
        s.destroy();
      },
    };
    const parse = () => {
      for (;;) {
        if (buf.length < 2) return;
        const op = buf[0] & 0x0f;
        let len = buf[1] & 0x7f;
        let off = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          off = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          off = 10;
        }
        if (buf.length < off + len) return;
        const payload = buf.subarray(off, off + len);
        buf = buf.subarray(off + len);
        if (op === 0x9 && pong) s.write(wsFrame(payload, 0xa));
        if (op === 0x2) {
          let f;
          try {
            f = decodeRelayFrame(new Uint8Array(payload));
          } catch {
            f = { type: 'UNDECODABLE' };
          }
          frames.push(f);
          if (frames.length > 1000) frames.shift();
          for (const w of [...waiters]) w(f);
        }
        if (op === 0x8) frames.push({ type: 'CLOSE', code: len >= 2 ? payload.readUInt16BE(0) : undefined });
      }
    };
    s.on('connect', () => s.write(upgradeRequest({ path, origin })));
    s.on('data', (d) => {
      // A flooding attacker reads (so the relay does not cut it as a slow consumer) without parsing:
      // the honest members share this process, and must not pay for the attacker's reading.
      if (open && discarding) return;
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      if (!open) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
        buf = buf.subarray(end + 4);
        if (status !== 101) {
          s.destroy();
          return reject(Object.assign(new Error(`upgrade answered ${status}`), { status }));
        }
        open = true;
        if (pongEvery > 0) timer = setInterval(() => !closed && s.write(wsFrame(new Uint8Array(0), 0xa)), pongEvery);
        resolve(ws);
        if (discarding) return;
      }
      parse();
    });
    const end = () => {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      for (const w of [...waiters]) w(null);
      if (!open) reject(Object.assign(new Error('connection closed before the upgrade'), { status: 'closed' }));
    };
    s.on('error', end);
    s.on('close', end);
  });
}

let reqIds = 1;
export const nextReq = () => reqIds++;

/**
 * A raw attacker connection joins `locator`; resolves with {ws, joined, state} (JOINED and the first
 * GROUP_STATE), or throws when the relay refuses.
 */
export async function rawJoin(relay, locator, opts = {}) {
  const ws = await rawWs(relay, opts);
  const reqId = nextReq();
  ws.send({ type: 'JOIN', reqId, room: locator });
  const joined = await ws.next(
    (f) => (f.type === 'JOINED' && f.reqId === reqId) || (f.type === 'ERROR' && f.reqId === reqId) || f.type === 'CLOSE',
  );
  if (joined?.type !== 'JOINED') {
    ws.close();
    throw new Error(`JOIN refused: ${joined === undefined ? 'no answer' : joined.type === 'ERROR' ? `ERROR ${joined.code}` : joined.type}`);
  }
  const state = await ws.next((f) => f.type === 'GROUP_STATE');
  return { ws, joined, state };
}

/**
 * An insider's upload ticket (docs/PROTOCOL.md §9.1): a raw connection joins a room of its own and
 * asks for one. Resolves with {ws, ticket} (the ticket as its header value, base64url); the ticket
 * is valid while `ws` stays in the room.
 */
export async function rawTicket(relay) {
  const room = randomLocator();
  const { ws } = await rawJoin(relay, room);
  const reqId = nextReq();
  ws.send({ type: 'TICKET', reqId, room });
  const f = await ws.next((x) => (x.type === 'TICKET_GRANT' || x.type === 'ERROR') && x.reqId === reqId);
  if (f?.type !== 'TICKET_GRANT') {
    ws.close();
    throw new Error(`TICKET refused: ${f === undefined ? 'no answer' : `ERROR ${f.code}`}`);
  }
  return { ws, ticket: Buffer.from(f.ticket).toString('base64url') };
}

/** A fresh random room locator (what a guesser, or a creator of throwaway rooms, sends). */
export const randomLocator = () => new Uint8Array(randomBytes(32));

// ---------------------------------------------------------------------------------------------
// Honest members: real SDK clients that chat and send files.
// ---------------------------------------------------------------------------------------------

const clients = new Set();
let probeFile;
function probePath() {
  if (probeFile === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'nullroom-attack-file-'));
    probeFile = join(dir, 'probe.bin');
    writeFileSync(probeFile, randomBytes(256 * 1024));
  }
  return probeFile;
}

/** One honest member: an SDK client in the room of `secret`, with a file sender/receiver and an inbox. */
export async function honestMember(relay, secret, nick, timeoutMs = 15_000) {
  const client = new NullroomClient({ url: relay.url, webSocket: nodeWebSocket() });
  clients.add(client);
  const inbox = [];
  const errors = [];
  const joinedAt = performance.now();
  await within(client.connect(), timeoutMs, 'timeout').then((r) => {
    if (r === 'timeout') throw new Error(`${nick}: connect timed out`);
  });
  const room = await within(client.join({ secret, nick }), timeoutMs, 'timeout');
  if (room === 'timeout') {
    await client.close().catch(() => undefined);
    throw new Error(`${nick}: join timed out`);
  }
  room.on('message', (e) => inbox.push({ from: e.from, text: e.text, at: performance.now() }));
  room.on('error', (e) => errors.push(e.code));
  const recvDir = mkdtempSync(join(tmpdir(), 'nullroom-attack-recv-'));
  const files = new RoomFiles(room, { ...nodeFileOptions(relay.url, {}, { worker: false, stallMs: 20_000, waitMs: 2000 }) });
  const received = [];
  files.on('offer', (offer) => {
    void folderSink(recvDir, `${randomBytes(6).toString('hex')}-${offer.name}`).then((sink) => {
      const t = offer.accept(sink);
      const rec = { name: offer.name, done: false, failed: undefined };
      received.push(rec);
      t.done.then(
        () => (rec.done = true),
        (e) => (rec.failed = e?.code ?? String(e)),
      );
    });
  });
  return { client, room, nick, inbox, errors, files, received, joinMs: performance.now() - joinedAt, recvDir };
}

/** Closes every honest client made so far. */
export async function closeHonest() {
  const all = [...clients];
  clients.clear();
  await Promise.all(all.map((c) => within(c.close(), 3000).catch(() => undefined)));
}

let probeN = 0;
/**
 * Chat probe: `a` sends a fresh text, `b` must receive it, and the relay must acknowledge it; then
 * the other way round. Resolves with the milliseconds it took, or undefined after `ms`.
 */
export async function chatProbe(a, b, ms = 5000) {
  const t0 = performance.now();
  const one = async (x, y) => {
    const text = `probe ${++probeN} ${randomBytes(4).toString('hex')}`;
    try {
      x.room.send(text);
    } catch {
      return false;
    }
    const got = (async () => {
      while (!y.inbox.some((m) => m.text === text)) await sleep(10);
      await x.room.flush();
      return true;
    })();
    return (await within(got, Math.max(1, ms - (performance.now() - t0)), false)) === true;
  };
  if (!(await one(a, b))) return undefined;
  if (!(await one(b, a))) return undefined;
  return Math.round(performance.now() - t0);
}

/**
 * Upload probe: `a` sends a 256 KiB file through the blob store; resolves with the milliseconds until
 * the upload completed (and, when `b` is given, b received it whole), or undefined after `ms`.
 */
export async function uploadProbe(a, b, ms = 5000) {
  const t0 = performance.now();
  const before = b?.received.length ?? 0;
  let src;
  try {
    src = await fileSource(probePath());
  } catch {
    return undefined;
  }
  const t = a.files.send(src);
  t.done.finally(() => src.close()).catch(() => undefined);
  const ok = await within(
    t.done.then(
      () => true,
      () => false,
    ),
    ms,
    false,
  );
  if (!ok) {
    t.cancel?.();
    return undefined;
  }
  if (b !== undefined) {
    const got = await within(
      (async () => {
        for (;;) {
          const r = b.received.slice(before).find((x) => x.done || x.failed);
          if (r !== undefined) return r.done;
          await sleep(10);
        }
      })(),
      Math.max(1, ms - (performance.now() - t0)),
      false,
    );
    if (!got) return undefined;
  }
  return Math.round(performance.now() - t0);
}

/**
 * Probes again and again until a chat probe and an upload probe both succeed, or `deadlineMs` after
 * `since` passes (but always for at least `minMs` from now: an attack whose own checks took long
 * still gets its honest members probed); resolves with {chatMs, uploadMs, recoveredMs} (ms from
 * `since`), the failing ones undefined.
 */
export async function recover(relay, a, b, since, deadlineMs, { upload = true, probeMs = 4000, minMs = 8000 } = {}) {
  let chatMs;
  let uploadMs;
  const end = Math.max(since + deadlineMs, performance.now() + minMs);
  while (performance.now() < end) {
    if (!relay.alive()) break;
    const left = Math.max(1, end - performance.now());
    if (chatMs === undefined) chatMs = await chatProbe(a, b, Math.min(probeMs, left));
    if (chatMs !== undefined && upload && uploadMs === undefined)
      uploadMs = await uploadProbe(a, b, Math.min(probeMs * 2, Math.max(1, end - performance.now())));
    if (chatMs !== undefined && (!upload || uploadMs !== undefined))
      return { chatMs, uploadMs, recoveredMs: Math.round(performance.now() - since) };
    await sleep(200);
  }
  return { chatMs, uploadMs, recoveredMs: undefined };
}
