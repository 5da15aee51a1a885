#!/usr/bin/env node
// A child of bench/private.mjs, driven over IPC.
//   relay    the real relay (default limits), counting every byte and frame it sends;
//   members  a host for room members that take no part in the private chat (bystanders): real
//            SDK clients, each with its own connection, MLS state and PrivateChats, as the CLI has.
// Both answer {cmd: 'stats'} with this process's CPU time, so that the parent can charge each side.
import { startInstrumentedRelay } from '../packages/server/dist/test/_instrumented.js';
import { NullroomClient, PrivateChats } from '../packages/client/dist/src/index.js';
import { nodeWebSocket } from '../packages/client/dist/src/node/index.js';
import { cpuNow, exitOnStop } from './_workers.mjs';

const role = process.argv[2];
exitOnStop();
const cpu = cpuNow; // microseconds

if (role === 'relay') {
  let bytesOut = 0;
  let framesOut = 0;
  // What goes on the socket: the WebSocket payload plus its frame header (RFC 6455 §5.2; the relay
  // does not mask): 2 bytes, 4 from 126 bytes on, 10 from 64 KiB on. TCP/IP overhead not counted.
  const header = (n) => (n < 126 ? 2 : n < 65536 ? 4 : 10);
  const relay = await startInstrumentedRelay(
    { port: 0, blobs: false },
    {
      onWire: (dir, _conn, bytes) => {
        if (dir !== 'out') return;
        bytesOut += bytes.byteLength + header(bytes.byteLength);
        framesOut++;
      },
    },
  );
  process.on('message', (m) => {
    if (m.cmd === 'stats') process.send({ re: m.id, cpu: cpu(), bytesOut, framesOut });
  });
  process.send({ ready: true, url: relay.url });
} else if (role === 'members') {
  const members = [];
  let url;
  let secret;
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
        const privateChats = new PrivateChats(room);
        const seen = { dm: 0, direct: 0, errors: 0 };
        // A hidden private message reaches a bystander as a room message whose SenderData names no
        // leaf (docs/PROTOCOL.md §5.2), dropped by its PrivateChats once no chat of its own opens it
        // (`othersHidden`, added in the stats below); older clients' came as a `dm` room payload.
        room.route('dm', () => seen.dm++);
        room.routeDirect(() => seen.direct++);
        room.on('error', () => seen.errors++);
        privateChats.on('message', () => seen.errors++); // a bystander must never read a private message
        members.push({ nick: m.nick, client, room, seen, privateChats });
        process.send({ re: m.id });
      } else if (m.cmd === 'stats') {
        process.send({
          re: m.id,
          cpu: cpu(),
          members: members.map((x) => ({
            nick: x.nick,
            size: x.room.members().length,
            epoch: x.room.epoch,
            joined: x.room.state === 'joined',
            ...x.seen,
            dm: x.seen.dm + x.privateChats.othersHidden,
          })),
        });
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
  process.stderr.write('usage: private-worker.mjs relay|members\n');
  process.exit(2);
}
