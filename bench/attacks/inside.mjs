/**
 * Attacks by someone who knows the room (its name and password, or its invite): a member with raw
 * frames, and with its own MLS code built from @nullroom/crypto's RoomGroup (so it can make valid
 * commits that claim what it likes). Same shape as outside.mjs. docs/SECURITY.md §11 "Attack suite".
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { RoomGroup, Suites, deriveRoomKeys } from '../../packages/crypto/dist/src/index.js';
import { honestMember, nextReq, randomRoomSecret, rawJoin, sleep, within } from './_lib.mjs';

const nicksOf = (m) =>
  m.room
    .members()
    .map((x) => x.nick)
    .sort();

/**
 * An MLS-capable attacker: joins the room of `secret` with a raw connection, then with an external
 * commit whose credential carries `profile(slot)` (the slot the relay gave it, or another).
 */
async function mlsJoin(relay, secret, profile) {
  const keys = await deriveRoomKeys(secret);
  const { ws, joined, state } = await rawJoin(relay, keys.locator, { pongEvery: 0 });
  if (state?.status !== 2) throw new Error('room not ready');
  let crypto = await RoomGroup.create(keys, Suites.default);
  const snap = await crypto.readGroupInfo(state.groupInfo);
  crypto = await crypto.withSuite(snap.suite);
  const p = profile(joined.slot);
  const out = await crypto.joinExternal(snap, p);
  const r = nextReq();
  ws.send({ type: 'COMMIT', reqId: r, room: keys.locator, epoch: state.epoch, commit: out.message, groupInfo: out.groupInfo });
  const ack = await ws.next((f) => (f.type === 'ACK' || f.type === 'ERROR') && f.reqId === r, 5000);
  return {
    ws,
    crypto,
    state: out.state,
    epoch: state.epoch + 1,
    locator: keys.locator,
    accepted: ack?.type === 'ACK',
    slot: joined.slot,
    profile: p,
  };
}

export const inside = [
  {
    name: 'garbage COMMIT (right epoch, random commit and GroupInfo) from a member connection',
    key: 'garbage-commit',
    issue: '11.5',
    recoveryTargetMs: 10_000,
    async run({ relay, track, secret, scale }) {
      const keys = await deriveRoomKeys(secret);
      const { ws, state } = await rawJoin(relay, keys.locator, { pongEvery: 1000 });
      track(ws);
      const r = nextReq();
      ws.send({
        type: 'COMMIT',
        reqId: r,
        room: keys.locator,
        epoch: state.epoch,
        commit: new Uint8Array(randomBytes(600)),
        groupInfo: new Uint8Array(randomBytes(3000)),
      });
      const ack = await ws.next((f) => (f.type === 'ACK' || f.type === 'ERROR') && f.reqId === r, 5000);
      const since = performance.now();
      // A newcomer must be able to join within the same 10 s; it tries while the runner probes alice and bob.
      const newcomer = (async () => {
        try {
          const m = await within(honestMember(relay, secret, 'carol', scale.joinWaitMs), scale.joinWaitMs);
          return m === undefined ? undefined : Math.round(performance.now() - since);
        } catch {
          return undefined;
        }
      })();
      return {
        since,
        checks: [],
        metrics: { relayAccepted: ack?.type === 'ACK' },
        later: async () => {
          const ms = await newcomer;
          return {
            checks: [
              {
                ok: ms !== undefined && (!scale.timeTargets || ms <= 10_000),
                what: ms === undefined ? `a newcomer could not join within ${scale.joinWaitMs / 1000} s` : `a newcomer joined in ${ms} ms`,
              },
            ],
            metrics: { newcomerJoinMs: ms ?? null },
          };
        },
      };
    },
  },
  {
    name: 'JOIN first, never CREATE (a locator holder blocks a new room)',
    key: 'join-never-create',
    issue: '11.5',
    async run({ relay, track, scale }) {
      const secret = randomRoomSecret();
      const keys = await deriveRoomKeys(secret);
      const { ws, state } = await rawJoin(relay, keys.locator, { pongEvery: 1000 });
      track(ws);
      const since = performance.now();
      let ms;
      try {
        const m = await within(honestMember(relay, secret, 'dave', scale.joinWaitMs), scale.joinWaitMs);
        if (m !== undefined) ms = Math.round(performance.now() - since);
      } catch {
        ms = undefined;
      }
      return {
        since: performance.now(),
        checks: [
          {
            ok: ms !== undefined && (!scale.timeTargets || ms <= 10_000),
            what:
              ms === undefined
                ? `an honest member could not open the room within ${scale.joinWaitMs / 1000} s`
                : `an honest member opened the room in ${ms} ms`,
          },
        ],
        metrics: { attackerStatus: state?.status, honestJoinMs: ms ?? null },
      };
    },
  },
  {
    name: 'ghost member: credential slot not its own connection',
    key: 'ghost-member',
    issue: '11.6',
    async run({ relay, track, secret, a, b }) {
      const atk = await mlsJoin(relay, secret, (slot) => ({ slot: slot + 1000, nick: 'ghost' }));
      track(atk.ws);
      const seen = await within(
        (async () => {
          while (!nicksOf(a).includes('ghost') || !nicksOf(b).includes('ghost')) await sleep(20);
          return true;
        })(),
        3000,
        false,
      );
      atk.ws.close();
      // Its connection is gone: honest members must drop it (PEER_GONE + removal), like any leaver.
      await sleep(6000);
      const since = performance.now();
      const still = nicksOf(a).includes('ghost') || nicksOf(b).includes('ghost');
      return {
        since,
        checks: [
          {
            ok: !seen || !still,
            what: !seen
              ? 'the ghost join was refused by the members'
              : still
                ? 'accepted, and still listed 6 s after its connection closed'
                : 'accepted, then removed when its connection closed',
          },
        ],
        metrics: { relayAccepted: atk.accepted, listedByMembers: seen, listedAfterLeave: still, members: nicksOf(a) },
      };
    },
  },
  {
    name: 'nickname impersonation: a joiner takes an existing nickname',
    key: 'nick-impersonation',
    issue: '11.7',
    async run({ relay, track, secret, a, b }) {
      const atk = await mlsJoin(relay, secret, (slot) => ({ slot, nick: 'alice' }));
      track(atk.ws);
      await sleep(1500);
      const dup = nicksOf(b).filter((n) => n === 'alice').length > 1;
      // Then it speaks as "alice".
      const text = `impersonated ${randomBytes(4).toString('hex')}`;
      const payload = new TextEncoder().encode(
        JSON.stringify({ type: 'text', text, v: 1, id: randomBytes(16).toString('hex'), n: 1, ts: Date.now() }),
      );
      let attributed = false;
      try {
        const out = await atk.crypto.encrypt(atk.state, payload);
        atk.ws.send({ type: 'APP', reqId: nextReq(), room: atk.locator, epoch: atk.epoch, data: out.message });
        attributed = await within(
          (async () => {
            while (!b.inbox.some((m) => m.text === text && m.from === 'alice')) await sleep(20);
            return true;
          })(),
          3000,
          false,
        );
      } catch {
        attributed = false;
      }
      return {
        since: performance.now(),
        checks: [
          { ok: !dup, what: dup ? `members show ${JSON.stringify(nicksOf(b))}` : 'the duplicate nickname was refused or marked' },
          {
            ok: !attributed,
            what: attributed ? 'its message was shown as from "alice" with no warning' : 'its message was not attributed to "alice"',
          },
        ],
        metrics: { relayAccepted: atk.accepted, membersSeenByBob: nicksOf(b), attributedToAlice: attributed },
      };
    },
  },
  {
    name: "APP flood over many connections in the attacker's own room (rate limit per connection, not per IP)",
    key: 'app-flood',
    issue: '11 (own)',
    async run({ relay, track, scale }) {
      // The attacker runs in its own process (it reads and parses 1,000s of frames per second).
      const child = fork(new URL('./flood-worker.mjs', import.meta.url).pathname, [relay.url, String(scale.floodConnections)], {
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      });
      track({ close: () => child.kill('SIGKILL') });
      let connections = 0;
      let sent = 0;
      child.on('message', (m) => {
        if (m.connections !== undefined) connections = m.connections;
        if (m.sent !== undefined) sent = m.sent;
      });
      await within(new Promise((r) => child.on('message', (m) => m.connections !== undefined && r())), 30_000);
      const since = performance.now();
      const sentAtStart = sent;
      return {
        since,
        checks: [],
        metrics: { connections },
        // Measured over the time the honest members were probed, the flood still running.
        later: async () => {
          // At least 2 s of flood to measure its rate.
          await sleep(Math.max(0, 2000 - (performance.now() - since)));
          const secs = (performance.now() - since) / 1000;
          const perSec = Math.round((sent - sentAtStart) / secs);
          return {
            checks: [
              {
                ok: true,
                what: `${connections} connections sent ${perSec} APP frames/s (${perSec * connections} deliveries/s) while the honest members were probed`,
              },
            ],
            metrics: { framesPerSec: perSec, deliveriesPerSec: perSec * connections, seconds: +secs.toFixed(1) },
          };
        },
      };
    },
  },
];
