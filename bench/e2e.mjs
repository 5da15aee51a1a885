#!/usr/bin/env node
/**
 * The MLS message path end to end (issue #14): what people receive is what their own client
 * decrypted, so this measures real SDK clients in one room, not the relay alone (bench/fanout.mjs).
 *
 *   npm run build && node bench/e2e.mjs
 *     E2E_MEMBERS=100 E2E_HOSTS=4 E2E_RATE=20 E2E_RATE_WARMUP=2 E2E_RATE_SECONDS=10 E2E_BURST=300 E2E_BURSTS=3 E2E_TEXT_BYTES=1024
 *
 * Processes (all on 127.0.0.1): the real relay in its own process (shipped per-connection limits,
 * except a send rate the one sender can saturate the room with; per-address limits lifted, since
 * every client comes from one address; no room store); the receiving members as real SDK clients,
 * each with its own connection and MLS state, spread over E2E_HOSTS host processes; the sender,
 * a real SDK client of its own in this process.
 *
 * Phases:
 *   joins   the members join one at a time (each JOIN once the previous one is in), the sender
 *           first; measured until every member sees all of them in one epoch: total time, and the
 *           hosts' CPU per (join × member already in), what each member spends on another's join.
 *   rate    the sender sends E2E_RATE messages/s of E2E_TEXT_BYTES for E2E_RATE_WARMUP seconds
 *           (2), then on at the same rate for E2E_RATE_SECONDS: latency from `send` to each
 *           receiver's `message` event (one clock: performance.timeOrigin), p50/p95/p99 of the
 *           measured seconds, counted once every receiver has every message. The warm-up's own
 *           latencies are reported beside them: in the first seconds after 99 joins the hosts,
 *           each running 25 members that have just processed every join, lag behind (their code
 *           paths and heaps are the joins' until then), by an amount that varies widely from run
 *           to run; it is the steady rate that the target is about, and both are shown.
 *   burst   the sender sends E2E_BURST messages as fast as its client sends: decrypted deliveries
 *           per second from the first send to the last delivery; CPU per delivery of the
 *           receivers (all hosts), per message of the sender (this process) and per delivery of
 *           the relay. On this 2-core machine the hosts share the cores, so deliveries/s is what
 *           the whole machine decrypts: the receivers' CPU per delivery is the figure that scales.
 *           E2E_BURSTS bursts, one after another; each figure is the median over them.
 * Writes bench/results/e2e.json; prints one summary line (progress on stderr). BENCH_CPU_PROF=<dir>:
 * the relay and the hosts write CPU profiles there.
 */
import { NullroomClient, randomRoomSecret } from '../packages/client/dist/src/index.js';
import { nodeWebSocket } from '../packages/client/dist/src/node/index.js';
import { writeResult } from './_results.mjs';
import { benchStart, ed25519VerifyMs, cpuNow, machine, quantile, r0, r2, sleep, until, worker } from './_workers.mjs';

const env = (k, d) => Number(process.env[k] ?? d);
const MEMBERS = env('E2E_MEMBERS', 100);
const HOSTS = env('E2E_HOSTS', 4);
const RATE = env('E2E_RATE', 20);
const RATE_SECONDS = env('E2E_RATE_SECONDS', 10);
const RATE_WARMUP = env('E2E_RATE_WARMUP', 2);
const BURST = env('E2E_BURST', 300);
const BURSTS = env('E2E_BURSTS', 3);
const TEXT_BYTES = env('E2E_TEXT_BYTES', 1024);
const TIME_LIMIT_S = env('E2E_TIME_LIMIT', 900);
const { log, started, loadAtStart } = benchStart('e2e', TIME_LIMIT_S);
// The receive floor now (one Ed25519 verification), measured again at the end: results read against it compare across runs.
const floorAtStart = ed25519VerifyMs();

const file = new URL('./e2e-worker.mjs', import.meta.url).pathname;
const relay = worker(file, 'relay');
const { url } = await relay.ready;
const hosts = Array.from({ length: HOSTS }, () => worker(file, 'members'));
const secret = randomRoomSecret();
for (const h of hosts) {
  await h.ready;
  await h.call('setup', { url, secret: Buffer.from(secret).toString('base64') });
}

async function hostStats() {
  const all = await Promise.all(hosts.map((h) => h.call('stats')));
  return {
    cpu: all.reduce((a, s) => a + s.cpu, 0),
    delivered: all.reduce((a, s) => a + s.delivered, 0),
    lastAt: Math.max(...all.map((s) => s.lastAt)),
    members: all.flatMap((s) => s.members),
  };
}
const snapshot = async () => ({ relay: (await relay.call('stats')).cpu, hosts: await hostStats(), sender: cpuNow() });

// Joins: the sender creates the room, then the receivers join one at a time.
const joinsStart = performance.now();
const before = await snapshot();
const client = new NullroomClient({ url, webSocket: nodeWebSocket(), timings: { sendRate: 5000, sendBurst: 10_000, sendWindow: 64 } });
await client.connect();
const room = await client.join({ secret, nick: 'sender' });
for (let n = 1; n < MEMBERS; n++) {
  await hosts[n % HOSTS].call('join', { nick: `m${n}` });
  if (n % 10 === 0) log(`${n + 1} members joined (${r0((performance.now() - joinsStart) / 1000)} s)`);
}
await until(
  async () => {
    if (room.members().length !== MEMBERS) return false;
    const s = await hostStats();
    return s.members.every((m) => m.joined && m.size === MEMBERS && m.epoch === room.epoch);
  },
  `${MEMBERS} members in one epoch`,
  600_000,
);
const joinsMs = performance.now() - joinsStart;
const afterJoins = await snapshot();
// Member i (0-based) joining makes i members already in process its commit.
const pairs = (MEMBERS * (MEMBERS - 1)) / 2;
const joins = {
  members: MEMBERS,
  untilAllSeeAllMs: r0(joinsMs),
  hostsCpuMsPerJoinPerMember: r2((afterJoins.hosts.cpu - before.hosts.cpu) / 1000 / pairs),
  relayCpuMs: r0((afterJoins.relay - before.relay) / 1000),
};
log(`joins: ${JSON.stringify(joins)}`);

const text = (i) => {
  const head = `${performance.timeOrigin + performance.now()} ${i} `;
  return head + 'x'.repeat(Math.max(0, TEXT_BYTES - head.length));
};
const receivers = MEMBERS - 1;
async function allDelivered(total, what) {
  await until(async () => (await hostStats()).delivered >= total, what, 300_000);
}

// Rate: one message every 1000/RATE ms, the first warmCount of them a warm-up (measured apart).
let sent = 0;
const warmCount = Math.round(RATE * RATE_WARMUP);
const rateCount = Math.max(1, Math.round(RATE * RATE_SECONDS));
const t0 = performance.now();
let rateBefore;
for (let i = 0; i < warmCount + rateCount; i++) {
  const wait = t0 + (i * 1000) / RATE - performance.now();
  if (wait > 0) await sleep(wait);
  // Not awaited: the sends keep their times. Each host answers once it has read what came before.
  if (i === warmCount) rateBefore = snapshot();
  room.send(text(sent++));
}
await allDelivered(sent * receivers, 'every rate message delivered');
const rateAfter = await snapshot();
rateBefore = await rateBefore;
const got = (await Promise.all(hosts.map((h) => h.call('latencies')))).flatMap((r) => r.latencies);
const latencies = got.filter(([i]) => i >= warmCount).map(([, ms]) => ms);
const warm = got.filter(([i]) => i < warmCount).map(([, ms]) => ms);
const rate = {
  messagesPerSecond: RATE,
  messages: rateCount,
  deliveries: latencies.length,
  latencyMs: { p50: r2(quantile(latencies, 0.5)), p95: r2(quantile(latencies, 0.95)), p99: r2(quantile(latencies, 0.99)) },
  // CPU over the measured messages (the warm-up's deliveries still in flight at its start count too: a few).
  receiverCpuMsPerDelivery: r2((rateAfter.hosts.cpu - rateBefore.hosts.cpu) / 1000 / (rateCount * receivers)),
  warmup:
    warmCount === 0
      ? null
      : {
          seconds: RATE_WARMUP,
          messages: warmCount,
          latencyMs: { p50: r2(quantile(warm, 0.5)), p95: r2(quantile(warm, 0.95)), max: r2(Math.max(...warm)) },
        },
};
log(`rate: ${JSON.stringify(rate)}`);

// Burst: as fast as the sender's client sends; BURSTS times, the median run reported.
async function oneBurst() {
  const before = await snapshot();
  const b0 = performance.timeOrigin + performance.now();
  for (let i = 0; i < BURST; i++) room.send(text(sent++));
  await room.flush();
  const sendersMs = performance.timeOrigin + performance.now() - b0;
  await allDelivered(sent * receivers, 'every burst message delivered');
  const after = await snapshot();
  const lat = (await Promise.all(hosts.map((h) => h.call('latencies')))).flatMap((r) => r.latencies.map(([, ms]) => ms));
  const deliveries = after.hosts.delivered - before.hosts.delivered;
  const seconds = (after.hosts.lastAt - b0) / 1000;
  return {
    messages: BURST,
    deliveries,
    seconds: r2(seconds),
    senderSeconds: r2(sendersMs / 1000),
    deliveriesPerSecond: r0(deliveries / seconds),
    latencyMs: { p50: r2(quantile(lat, 0.5)), p95: r2(quantile(lat, 0.95)) },
    cpu: {
      receiverMsPerDelivery: r2((after.hosts.cpu - before.hosts.cpu) / 1000 / deliveries),
      senderMsPerMessage: r2((after.sender - before.sender) / 1000 / BURST),
      relayUsPerDelivery: r2((after.relay - before.relay) / deliveries),
    },
  };
}
const bursts = [];
for (let i = 0; i < BURSTS; i++) {
  bursts.push(await oneBurst());
  log(`burst ${i + 1}/${BURSTS}: ${JSON.stringify(bursts[i])}`);
}
const med = (f) => quantile(bursts.map(f), 0.5);
const burst = {
  ...bursts.find((b) => b.deliveriesPerSecond === med((b) => b.deliveriesPerSecond)),
  runs: bursts.length,
  // Each figure the median over the runs (a run's figures need not all come from the same run).
  cpu: {
    receiverMsPerDelivery: med((b) => b.cpu.receiverMsPerDelivery),
    senderMsPerMessage: med((b) => b.cpu.senderMsPerMessage),
    relayUsPerDelivery: med((b) => b.cpu.relayUsPerDelivery),
  },
  each: bursts.map((b) => ({ deliveriesPerSecond: b.deliveriesPerSecond, receiverMsPerDelivery: b.cpu.receiverMsPerDelivery })),
};
log(`burst: ${JSON.stringify(burst)}`);

const report = {
  bench: 'e2e',
  date: new Date().toISOString(),
  machine: machine(loadAtStart),
  ed25519VerifyMs: { start: floorAtStart, end: ed25519VerifyMs() },
  members: MEMBERS,
  hosts: HOSTS,
  textBytes: TEXT_BYTES,
  seconds: r0((performance.now() - started) / 1000),
  joins,
  rate,
  burst,
  note: 'real SDK clients (default suite) in one room on one 2-core machine; relay without room store, per-address limits lifted; latencies on one clock across processes',
};
writeResult('e2e', report);
await client.close();
await Promise.all(hosts.map((h) => h.call('quit').catch(() => undefined)));
await Promise.all([...hosts, relay].map((w) => w.stop()));
console.log(
  `end to end, ${MEMBERS} members: joins until all see all ${r2(joins.untilAllSeeAllMs / 1000)} s; at ${RATE} msg/s latency p50 ${rate.latencyMs.p50} ms, p95 ${rate.latencyMs.p95} ms; ` +
    `burst ${burst.deliveriesPerSecond} decrypted deliveries/s, receiver ${burst.cpu.receiverMsPerDelivery} ms CPU per delivery, sender ${burst.cpu.senderMsPerMessage} ms per message, relay ${burst.cpu.relayUsPerDelivery} µs per delivery; run ${report.seconds} s`,
);
process.exit(0);
