/**
 * Attacks from outside any room: anyone who can open a TCP connection to the relay, or a web page
 * that a visitor's browser runs (which can send any Origin-bearing WebSocket or fetch). Each entry is
 * { name, issue, run(ctx) }: `run` starts the attack, leaves it running (its sockets registered with
 * ctx.track), and returns { since, checks, metrics, notes }; the runner then measures whether and
 * how fast the honest members chat and upload while it runs. docs/SECURITY.md §11 "Attack suite".
 */
import { randomBytes } from 'node:crypto';
/** The relay's default largest upload body (4 MiB + 64 KiB, packages/server/src/blobOptions.ts). */
const CHUNK_MAX = 4 * 2 ** 20 + 64 * 1024;
import {
  MiB,
  healthy,
  nextReq,
  randomLocator,
  rawJoin,
  rawRequest,
  rawTicket,
  rawWs,
  sleep,
  tcp,
  upgradeRequest,
  within,
  wsFrame,
} from './_lib.mjs';

const blobId = () => randomBytes(16).toString('base64url');
const blobToken = () => randomBytes(32).toString('base64url');

/** Runs `fn` over `items` with at most `n` at once. */
async function pool(items, n, fn) {
  let i = 0;
  const out = new Array(items.length);
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (i < items.length) {
        const k = i++;
        out[k] = await fn(items[k], k);
      }
    }),
  );
  return out;
}

/**
 * Opens `n` connections with `connect()`, at most 64 at once: each opened one is tracked and handed
 * to `use` at once, each failure to `failed`. Resolves with how many opened.
 */
async function openMany(n, connect, { track, use = () => undefined, failed = () => undefined }) {
  let opened = 0;
  await pool(
    Array.from({ length: n }, (_, i) => i),
    64,
    async () => {
      let c;
      try {
        c = await connect();
      } catch (e) {
        failed(e);
        return;
      }
      track(c);
      opened++;
      use(c);
    },
  );
  return opened;
}

export const outside = [
  {
    name: 'slash request targets (`//`, `///`, `//@`, `//[`)',
    key: 'slash-targets',
    issue: '11.1',
    async run({ relay }) {
      const targets = ['//', '///', '//@', '//['];
      const tried = [];
      let killer;
      // Plain requests first, the WebSocket upgrade last: a death names the request that caused it.
      const kinds = [
        ['GET', (t) => `GET ${t} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`],
        [
          'PUT blob',
          (t) =>
            `PUT ${t}blobs/${blobId()}/0 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nX-Nullroom-Blob-Token: ${blobToken()}\r\nConnection: close\r\n\r\nx`,
        ],
        ['GET blob', (t) => `GET ${t}blobs/${blobId()}/0 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`],
        ['upgrade', (t) => upgradeRequest({ path: t })],
      ];
      for (const [kind, make] of kinds) {
        for (const t of targets) {
          if (!relay.alive()) break;
          const r = await rawRequest(relay, make(t));
          await sleep(150);
          const alive = relay.alive() && (await healthy(relay, 1500));
          tried.push(`${kind} ${t} -> ${r.status}${alive ? '' : ' (relay died)'}`);
          if (!alive && killer === undefined) killer = `${kind} ${t}`;
        }
      }
      const errors = tried.filter((t) => / -> 5\d\d/.test(t));
      return {
        since: performance.now(),
        checks: [
          { ok: killer === undefined, what: killer === undefined ? 'every request answered, relay alive' : `relay exited on ${killer}` },
          {
            ok: errors.length === 0,
            what: errors.length === 0 ? 'no 5xx for a malformed target' : `5xx (not a clear 4xx) for ${errors.length} malformed targets`,
          },
        ],
        metrics: { requests: tried },
      };
    },
  },
  {
    name: 'WebSocket and blob requests from a foreign Origin',
    key: 'foreign-origin',
    issue: '11.2',
    async run({ relay, track }) {
      const origin = 'https://evil.example';
      let joined = false;
      let status;
      try {
        const j = await rawJoin(relay, randomLocator(), { origin });
        track(j.ws);
        joined = j.joined.type === 'JOINED' && j.state?.type === 'GROUP_STATE';
        status = 101;
      } catch (e) {
        status = e.status ?? String(e.message);
      }
      const get = await rawRequest(
        relay,
        `GET /blobs/${blobId()}/0 HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: ${origin}\r\nConnection: close\r\n\r\n`,
      );
      const put = await rawRequest(
        relay,
        `PUT /blobs/${blobId()}/0 HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: ${origin}\r\nContent-Length: 1\r\nX-Nullroom-Blob-Token: ${blobToken()}\r\nConnection: close\r\n\r\nx`,
      );
      const refused = (s) => s === 403 || s === 'closed';
      return {
        since: performance.now(),
        checks: [
          {
            ok: !joined,
            what: joined ? 'a foreign-origin WebSocket got JOINED and GROUP_STATE' : `foreign-origin upgrade refused (${status})`,
          },
          { ok: refused(get.status), what: `foreign-origin blob GET answered ${get.status}` },
          { ok: refused(put.status), what: `foreign-origin blob PUT answered ${put.status}` },
        ],
        metrics: { upgradeStatus: status, blobGet: get.status, blobPut: put.status },
      };
    },
  },
  {
    name: 'memory pinning: 2 MiB GroupInfo, JOIN + SYNCs, never read',
    key: 'memory-pinning',
    issue: '11.3',
    async run({ relay, track, scale }) {
      const n = scale.pinConnections;
      const syncs = 3;
      const creator = await rawJoin(relay, randomLocator(), { pongEvery: 1000 });
      track(creator.ws);
      const gi = new Uint8Array(randomBytes(2 * MiB - 256));
      const reqId = nextReq();
      creator.ws.send({ type: 'CREATE', reqId, room: creator.joined.room, groupInfo: gi });
      const ack = await creator.ws.next((f) => (f.type === 'ACK' || f.type === 'ERROR') && f.reqId === reqId, 10_000);
      if (ack?.type !== 'ACK')
        return {
          since: performance.now(),
          checks: [{ ok: true, what: `CREATE of a 2 MiB GroupInfo refused (${ack?.type ?? 'no answer'} ${ack?.code ?? ''})` }],
        };
      // What every attacker shares (the READY frame carrying the GroupInfo, encoded once; the room
      // store's pages) is a fixed cost, not pinning: the first attacker pays it before the baseline.
      let before = relay.rss();
      let opened = 0;
      let refusedAt;
      for (let i = 0; i < n; i++) {
        if (i === 1) {
          await sleep(1000);
          before = relay.rss();
        }
        let ws;
        try {
          // Never answers pings (it never reads) but sends unsolicited pongs.
          ws = await rawWs(relay, { pong: false, pongEvery: 1000 });
        } catch (e) {
          refusedAt ??= `${i}: ${e.status ?? e.message}`;
          continue;
        }
        track(ws);
        ws.pause();
        ws.send({ type: 'JOIN', reqId: nextReq(), room: creator.joined.room });
        for (let k = 0; k < syncs; k++) ws.send({ type: 'SYNC', reqId: nextReq(), room: creator.joined.room });
        opened++;
      }
      // Hold long enough for several ping intervals: a relay that only trusts its own pings lets go.
      await sleep(scale.holdMs);
      const held = relay.rss();
      const counted = Math.max(0, opened - 1);
      const perConn = counted > 0 ? (held - before) / MiB / counted : 0;
      return {
        since: performance.now(),
        checks: [
          {
            ok: perConn <= 1,
            what: `${perConn.toFixed(1)} MiB still held per never-reading connection after ${scale.holdMs / 1000} s (limit 1 MiB: only a pong to the relay's own ping proves life)`,
          },
        ],
        metrics: {
          connections: n,
          opened,
          refusedAt,
          rssBeforeMiB: Math.round(before / MiB),
          rssAfterHoldMiB: Math.round(held / MiB),
          pinnedPerConnectionMiB: +perConn.toFixed(2),
          holdMs: scale.holdMs,
        },
      };
    },
  },
  {
    name: 'GroupInfo hoarding: 16 rooms x 2 MiB per connection',
    key: 'groupinfo-hoard',
    issue: '11.3',
    async run({ relay, track, scale }) {
      const conns = scale.hoardConnections;
      const gi = new Uint8Array(randomBytes(2 * MiB - 256));
      let stored = 0;
      let refused = 0;
      for (let c = 0; c < conns; c++) {
        let ws;
        try {
          ws = await rawWs(relay, { pongEvery: 1000 });
        } catch {
          refused += 16;
          continue;
        }
        track(ws);
        for (let r = 0; r < 16; r++) {
          const room = randomLocator();
          const j = nextReq();
          ws.send({ type: 'JOIN', reqId: j, room });
          const joined = await ws.next((f) => (f.type === 'JOINED' || f.type === 'ERROR') && f.reqId === j, 5000);
          if (joined?.type !== 'JOINED') {
            refused++;
            continue;
          }
          const k = nextReq();
          ws.send({ type: 'CREATE', reqId: k, room, groupInfo: gi });
          const ack = await ws.next(
            (f) => (f.type === 'ACK' || f.type === 'ERROR' || f.type === 'CLOSE') && (f.reqId === k || f.type === 'CLOSE'),
            5000,
          );
          if (ack?.type === 'ACK') stored++;
          else refused++;
        }
        ws.frames.length = 0;
      }
      return {
        since: performance.now(),
        checks: [{ ok: true, what: `${stored} GroupInfos of 2 MiB stored by ${conns} connections (${refused} refused)` }],
        metrics: { connections: conns, groupInfosStored: stored, refused, storedMiB: stored * 2 },
      };
    },
  },
  {
    name: 'upload lock-out: 16 trickling 4 MiB PUTs, then an honest upload',
    key: 'trickle-uploads',
    issue: '11.4',
    async run({ relay, track, a, b, scale, probes }) {
      let stopped = false;
      let opened = 0;
      let cut = 0;
      // The attacker is an insider: uploads need a ticket, which any connection in a room (one of its
      // own) gets. Each trickler declares 4 MiB and sends a byte every few seconds; when the relay cuts
      // one, the attacker opens another (as a real attacker would).
      // One ticket per attacking host: the relay also gives each ticket only a share of the budget.
      const insiders = [];
      for (let k = 0; k < 5; k++) {
        insiders.push(await rawTicket(relay));
        track(insiders[k].ws);
      }
      // Spread over four hosts (127.0.0.3-6), none of them the honest members' address, so that
      // together they can claim the whole upload-body budget despite the per-address share.
      const trickle = async (from, size = CHUNK_MAX) => {
        const insider = insiders[Number(from.split('.')[3]) - 3];
        while (!stopped && relay.alive()) {
          let s;
          try {
            s = await tcp(relay, from);
          } catch {
            await sleep(500);
            continue;
          }
          track(s);
          opened++;
          s.write(
            `PUT /blobs/${blobId()}/0 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Nullroom-Blob-Token: ${blobToken()}\r\nX-Nullroom-Blob-Ticket: ${insider.ticket}\r\nContent-Length: ${size}\r\n\r\nx`,
          );
          let closed = false;
          let answered = false;
          s.on('data', () => (answered = true));
          s.on('close', () => (closed = true));
          while (!closed && !stopped && !answered) {
            await sleep(scale.trickleEveryMs);
            if (!closed) s.write('x');
          }
          s.destroy();
          if (!stopped) {
            cut++;
            await sleep(200);
          }
        }
      };
      // Fifteen of the largest chunks the relay takes fit its default 64 MiB upload-body budget; a
      // sixteenth, from a fifth host, declares exactly what is left, so nothing is free.
      // Started here; they trickle until the attack ends (`stopped`).
      void [...Array.from({ length: 15 }, (_, i) => trickle(`127.0.0.${3 + (i % 4)}`)), trickle('127.0.0.7', 64 * MiB - 15 * CHUNK_MAX)];
      track({ close: () => (stopped = true) });
      await sleep(1000);
      const since = performance.now();
      const up = await probes.upload(a, b, scale.uploadWaitMs);
      return {
        since,
        checks: [
          {
            ok: up !== undefined && (!scale.timeTargets || up <= 5000),
            what:
              up === undefined
                ? `honest upload not accepted within ${scale.uploadWaitMs / 1000} s`
                : `honest upload accepted in ${up} ms (target <= 5000)`,
          },
        ],
        metrics: { honestUploadMs: up ?? null, tricklingPuts: 16, opened, cutByRelay: cut },
      };
    },
  },
  {
    name: 'blob store fill: tiny PUTs from outside any room',
    key: 'tiny-puts',
    issue: '11.4',
    async run({ relay, scale }) {
      const total = scale.tinyPuts;
      const sockets = 16;
      const statuses = {};
      const t0 = performance.now();
      await pool(
        Array.from({ length: sockets }, (_, i) => i),
        sockets,
        async (i) => {
          const per = Math.ceil(total / sockets) - (i < sockets * Math.ceil(total / sockets) - total ? 1 : 0);
          let s;
          let buf = '';
          let sent = 0;
          let got = 0;
          const open = async () => {
            s = await tcp(relay);
            s.setEncoding('latin1');
            s.on('data', (d) => {
              buf += d;
              for (;;) {
                const m = /^HTTP\/1\.1 (\d{3})[^]*?\r\n\r\n/.exec(buf);
                if (m === null) break;
                const len = Number(/content-length: (\d+)/i.exec(m[0])?.[1] ?? 0);
                if (buf.length < m[0].length + len) break;
                buf = buf.slice(m[0].length + len);
                statuses[m[1]] = (statuses[m[1]] ?? 0) + 1;
                got++;
              }
            });
          };
          // Pipelined in small batches on a keep-alive connection; reopened if the relay closes it.
          while (sent < per && relay.alive()) {
            if (s === undefined || s.destroyed) {
              try {
                await open();
              } catch {
                break;
              }
              got = sent = Math.max(sent, got);
            }
            const batch = Math.min(16, per - sent);
            let req = '';
            for (let k = 0; k < batch; k++)
              req += `PUT /blobs/${blobId()}/0 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Nullroom-Blob-Token: ${blobToken()}\r\nContent-Length: 1\r\n\r\nx`;
            const target = sent + batch;
            s.write(req);
            sent = target;
            const t = performance.now();
            while (got < target && !s.destroyed && performance.now() - t < 5000) await sleep(2);
            if (got < target) {
              statuses.noAnswer = (statuses.noAnswer ?? 0) + (target - got);
              s.destroy();
              got = target;
            }
          }
          s?.destroy();
        },
      );
      const secs = (performance.now() - t0) / 1000;
      const accepted = statuses['204'] ?? 0;
      const rate = Math.round(accepted / secs);
      return {
        since: performance.now(),
        checks: [
          {
            ok: accepted === 0,
            what:
              accepted === 0
                ? `no blob written from outside a room (${JSON.stringify(statuses)})`
                : `${accepted} of ${total} outsider PUTs stored (${rate}/s: the default 100,000-blob cap fills in ${Math.round(100_000 / Math.max(rate, 1))} s and stays full for the 24 h TTL)`,
          },
        ],
        metrics: { puts: total, statuses, seconds: +secs.toFixed(1), acceptedPerSec: rate },
      };
    },
  },
  {
    name: 'waiting-GET lock-out: 1,100 waiting GETs on random ids (the default cap is 1,024)',
    key: 'waiting-gets',
    issue: '11.4',
    async run({ relay, track, scale }) {
      const n = scale.waitingGets;
      const early = {};
      const opened = await openMany(n, () => tcp(relay), {
        track,
        use: (s) => {
          s.setEncoding('latin1');
          s.on('data', (d) => {
            const st = /^HTTP\/1\.1 (\d{3})/.exec(d)?.[1] ?? '?';
            early[st] = (early[st] ?? 0) + 1;
          });
          s.write(`GET /blobs/${blobId()}/0?wait=30000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
        },
        failed: () => (early.connectFailed = (early.connectFailed ?? 0) + 1),
      });
      await sleep(500);
      const since = performance.now();
      // The honest client is another host (127.0.0.2): waiting GETs are capped per address, and the
      // attacker's own address may well be refused.
      const honest = await rawRequest(
        relay,
        `GET /blobs/${blobId()}/0?wait=500 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
        5000,
        '127.0.0.2',
      );
      return {
        since,
        checks: [
          {
            ok: honest.status === 404,
            what: `an honest waiting GET was answered ${honest.status}${honest.status === 503 ? ' (locked out)' : ''}`,
          },
        ],
        metrics: { waitingGets: n, opened, answeredEarly: early, honestWaitingGet: honest.status },
      };
    },
  },
  {
    name: 'online password guessing: JOINs on random locators',
    key: 'password-guessing',
    issue: '11.8',
    async run({ relay, track, scale }) {
      const conns = scale.guessConnections;
      const ms = scale.guessMs;
      let answered = 0;
      /** Answered in the second half of the window: the sustained rate, past any burst the relay allows. */
      let late = 0;
      let refused = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: conns }, async () => {
          let ws;
          try {
            ws = await rawWs(relay);
          } catch {
            return;
          }
          track(ws);
          while (performance.now() - t0 < ms && !ws.closed) {
            const room = randomLocator();
            const r = nextReq();
            ws.send({ type: 'JOIN', reqId: r, room });
            const f = await ws.next((x) => (x.type === 'JOINED' || x.type === 'ERROR') && x.reqId === r, 2000);
            ws.frames.length = 0;
            if (f?.type === 'JOINED') {
              answered++;
              if (performance.now() - t0 >= ms / 2) late++;
              ws.send({ type: 'LEAVE', reqId: nextReq(), room });
            } else {
              refused++;
              await sleep(50);
            }
          }
        }),
      );
      const elapsed = (performance.now() - t0) / 1000;
      const perSec = Math.round((answered / elapsed) * 10) / 10;
      // The guessing rate that matters is the sustained one (guesses per day); a first burst is bounded.
      const sustained = Math.round((late / (elapsed - ms / 2000)) * 10) / 10;
      const limit = scale.guessLimitPerSec;
      return {
        since: performance.now(),
        checks: [
          {
            ok: sustained <= limit,
            what: `${sustained} locator guesses/s answered from one IP over ${conns} connections in the second half of ${ms / 1000} s (${answered} in all; suite limit ${limit}/s sustained)`,
          },
        ],
        metrics: {
          connections: conns,
          seconds: ms / 1000,
          answered,
          answeredSecondHalf: late,
          refused,
          guessesPerSec: perSec,
          sustainedGuessesPerSec: sustained,
        },
      };
    },
  },
  {
    name: 'header flood: 1,000 headers per request, a 1 MiB header line',
    key: 'header-flood',
    issue: '11 (own)',
    async run({ relay, scale }) {
      const many = `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n${Array.from({ length: 1000 }, (_, i) => `X-H${i}: ${'v'.repeat(30)}\r\n`).join('')}Connection: close\r\n\r\n`;
      const huge = `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(MiB)}\r\nConnection: close\r\n\r\n`;
      const upg = upgradeRequest({ extra: Array.from({ length: 500 }, (_, i) => `X-U${i}: ${'w'.repeat(30)}\r\n`).join('') });
      const statuses = {};
      await pool(
        Array.from({ length: scale.headerFloods }, (_, i) => [many, huge, upg][i % 3]),
        32,
        async (req) => {
          const r = await rawRequest(relay, req, 5000);
          statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        },
      );
      const bad = Object.keys(statuses).filter((k) => !/^4\d\d$|^closed$/.test(k));
      return {
        since: performance.now(),
        checks: [{ ok: bad.length === 0, what: `${scale.headerFloods} oversized requests answered ${JSON.stringify(statuses)}` }],
        metrics: { requests: scale.headerFloods, statuses },
      };
    },
  },
  {
    name: 'slowloris on plain HTTP: many connections sending a header byte every few seconds',
    key: 'slowloris',
    issue: '11 (own)',
    async run({ relay, track, scale }) {
      const n = scale.slowloris;
      let stopped = false;
      const socks = [];
      // A refused connection is counted as not opened.
      const opened = await openMany(n, () => tcp(relay), {
        track,
        use: (s) => {
          socks.push(s);
          s.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
        },
      });
      const drip = setInterval(() => {
        if (stopped) return;
        for (const s of socks) if (!s.destroyed) s.write('a');
      }, 2000);
      track({ close: () => ((stopped = true), clearInterval(drip)) });
      await sleep(scale.holdMs);
      const since = performance.now();
      const fresh = await rawRequest(relay, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', 5000);
      const stillOpen = socks.filter((s) => !s.destroyed).length;
      return {
        since,
        checks: [
          { ok: fresh.status === 200, what: `a fresh GET /healthz answered ${fresh.status} with ${stillOpen} slow connections open` },
        ],
        metrics: { connections: n, opened, stillOpenAfterMs: scale.holdMs, stillOpen },
      };
    },
  },
  {
    name: 'many WebSocket connections from one IP',
    key: 'many-connections',
    issue: '11 (own)',
    async run({ relay, track, scale }) {
      const n = scale.manyConnections;
      const refused = {};
      const before = relay.rss();
      const opened = await openMany(n, () => rawWs(relay), {
        track,
        failed: (e) => {
          const k = String(e.status ?? 'error');
          refused[k] = (refused[k] ?? 0) + 1;
        },
      });
      const since = performance.now();
      const after = relay.rss();
      return {
        since,
        checks: [
          {
            ok: opened < n,
            what: opened < n ? `per-IP cap: ${opened} of ${n} accepted` : `all ${n} connections from one IP accepted (no per-IP cap)`,
          },
        ],
        metrics: { connections: n, opened, refused, rssPerConnectionKiB: opened > 0 ? Math.round((after - before) / 1024 / opened) : 0 },
      };
    },
  },
  {
    name: 'oversize and malformed WebSocket frames',
    key: 'bad-frames',
    issue: '11 (own)',
    async run({ relay, track, scale }) {
      const closes = {};
      const cases = [
        // A header announcing 1 GiB, then 4 MiB of it.
        () => {
          const h = Buffer.alloc(14);
          h[0] = 0x82;
          h[1] = 0x80 | 127;
          h.writeBigUInt64BE(2n ** 30n, 2);
          return [h, Buffer.alloc(4 * MiB)];
        },
        // Fragments that add up past the limit.
        () => [
          wsFrame(new Uint8Array(MiB + 1), 0x2, false),
          wsFrame(new Uint8Array(MiB + 1), 0x0, false),
          wsFrame(new Uint8Array(10), 0x0, true),
        ],
        () => [wsFrame(new TextEncoder().encode('not binary'), 0x1)],
        () => [wsFrame(new Uint8Array([0x01, 0, 0]), 0x2)],
        () => [wsFrame(new Uint8Array(8), 0x3)],
        () => [Buffer.from([0x82, 0x05, 1, 2, 3, 4, 5])], // unmasked client frame
        () => [wsFrame(new Uint8Array(200), 0x9)], // control frame over 125 bytes
        () => [wsFrame(new Uint8Array(2 * MiB - 64).fill(0x04), 0x2)],
      ];
      for (let i = 0; i < scale.badFrames; i++) {
        const make = cases[i % cases.length];
        let ws;
        try {
          ws = await rawWs(relay);
        } catch {
          continue;
        }
        track(ws);
        for (const piece of make()) ws.sendRaw(piece);
        const c = await ws.next((f) => f.type === 'CLOSE' || f.type === 'ERROR', 3000);
        const k = c === undefined ? (ws.closed ? 'dropped' : 'no answer') : c.type === 'CLOSE' ? `close ${c.code}` : `error ${c.code}`;
        closes[k] = (closes[k] ?? 0) + 1;
        ws.close();
      }
      const silent = closes['no answer'] ?? 0;
      return {
        since: performance.now(),
        checks: [{ ok: silent === 0, what: `${scale.badFrames} bad frames answered ${JSON.stringify(closes)}` }],
        metrics: { connections: scale.badFrames, answers: closes },
      };
    },
  },
];

export { pool, blobId, blobToken, within };
