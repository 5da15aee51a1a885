#!/usr/bin/env node
// A child of bench/e2e.mjs, driven over IPC.
//   relay    the real relay in its own process, with the per-address limits raised (every client
//            of the benchmark comes from 127.0.0.1) and no room store (as benchmarks.md's fan-out);
//   members  a host for room members that receive: real SDK clients, each with its own connection
//            and MLS state, that record for every message when it arrived.
// Both answer {cmd: 'stats'} with this process's CPU time, so that the parent can charge each side.
import { startRelay } from '../packages/server/dist/src/index.js';
import { NullroomClient } from '../packages/client/dist/src/index.js';
import { nodeWebSocket } from '../packages/client/dist/src/node/index.js';
import { cpuNow, exitOnStop } from './_workers.mjs';

const role = process.argv[2];
exitOnStop();
const cpu = cpuNow; // microseconds
/** Milliseconds on a clock every process on this machine shares. */
const now = () => performance.timeOrigin + performance.now();

/** The relay's limits in the benchmark: per-connection limits as shipped, per-address ones lifted. */
const benchLimits = {
  maxConnectionsPerAddress: 100_000,
  maxRoomsPerAddress: 100_000,
  commitBurstPerAddress: 1e6,
  commitIntervalPerAddressMs: 1,
  maxGroupInfoBytesPerAddress: 2 ** 31,
  newRoomBurst: 1e6,
  // One sender per run sends faster than a person does, to find the room's ceiling.
  ratePerSecond: 5000,
  rateBurst: 10_000,
};

if (role === 'relay') {
  const relay = await startRelay({ port: 0, blobs: false, limits: benchLimits });
  process.on('message', (m) => {
    if (m.cmd === 'stats') process.send({ re: m.id, cpu: cpu(), rss: process.memoryUsage().rss });
  });
  process.send({ ready: true, url: `http://127.0.0.1:${relay.port}` });
} else if (role === 'members') {
  const members = [];
  let url;
  let secret;
  /** [message index, arrival latency (ms)] of the phase being measured, and the count of every delivery. */
  let latencies = [];
  let delivered = 0;
  let lastAt = 0;
  const onMessage = (e) => {
    delivered++;
    lastAt = now();
    // "<sent at> <index> xxx...": the latency, with the message's index.
    const [sentAt, index] = e.text.split(' ', 2).map(Number);
    if (Number.isFinite(sentAt)) latencies.push([index, lastAt - sentAt]);
  };
  process.on('message', async (m) => {
    try {
      if (m.cmd === 'setup') {
        url = m.url;
        secret = Uint8Array.from(Buffer.from(m.secret, 'base64'));
        process.send({ re: m.id });
      } else if (m.cmd === 'join') {
        const client = new NullroomClient({ url, webSocket: nodeWebSocket() });
        await client.connect();
        const room = await client.join({ secret, nick: m.nick });
        room.on('message', onMessage);
        members.push({ nick: m.nick, client, room });
        process.send({ re: m.id });
      } else if (m.cmd === 'stats') {
        process.send({
          re: m.id,
          cpu: cpu(),
          delivered,
          lastAt,
          members: members.map((x) => ({ size: x.room.members().length, epoch: x.room.epoch, joined: x.room.state === 'joined' })),
        });
      } else if (m.cmd === 'latencies') {
        process.send({ re: m.id, latencies });
        latencies = [];
      } else if (m.cmd === 'quit') {
        await Promise.all(members.map((x) => x.client.close().catch(() => undefined)));
        process.send({ re: m.id });
      }
    } catch (e) {
      process.send({ re: m.id, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
    }
  });
  process.send({ ready: true });
} else {
  process.stderr.write('usage: e2e-worker.mjs relay|members\n');
  process.exit(2);
}
