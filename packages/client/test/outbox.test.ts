/** The outbox (src/outbox.ts) against a fake conversation: no relay, no MLS. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ClientFrame, type RelayEpoch, type ReqId, asEpoch, asReqId } from '@nullroom/protocol';
import { ClientError } from '../src/errors.js';
import { Outbox, type OutboxHost } from '../src/outbox.js';

interface Fake {
  box: Outbox;
  frames: ClientFrame[];
  sent: string[];
  unsent: { id: string; code: string }[];
  failed: unknown[];
  refused: string[];
  /** Runs what was queued on the fake conversation's queue. */
  drain(): Promise<void>;
  state: { open: boolean; commits: RelayEpoch; encryptFails: boolean; beforeSend: () => Promise<void> };
}

function fake(timings = { sendWindow: 2, sendRate: 1000, sendBurst: 1000, sendTimeoutMs: 60_000 }): Fake {
  let next = 1;
  let queue: Promise<void> = Promise.resolve();
  const frames: ClientFrame[] = [];
  const f: Omit<Fake, 'box'> = {
    frames,
    sent: [],
    unsent: [],
    failed: [],
    refused: [],
    drain: async () => {
      for (let i = 0; i < 5; i++) {
        await queue;
        await new Promise((r) => setTimeout(r, 0));
      }
    },
    state: { open: true, commits: asEpoch(0), encryptFails: false, beforeSend: async () => undefined },
  };
  const host: OutboxHost = {
    request: (build) => {
      const reqId = asReqId(next++);
      frames.push(build(reqId));
      return reqId;
    },
    run: (fn) => void (queue = queue.then(fn)),
    directOpen: () => f.state.open,
    ownSlot: () => 1,
    appOpen: () => f.state.open,
    encrypt: async (plaintext) => {
      if (f.state.encryptFails) throw new Error('boom');
      return { message: plaintext, commits: f.state.commits };
    },
    // A hidden message's wrapping names the relay commit count it was made for (a re-wrap differs).
    wrap: async (inner) => ({ message: Uint8Array.of(0xff, f.state.commits, ...inner), commits: f.state.commits }),
    appFrame: (reqId, commits, data) => ({ type: 'APP', reqId, room: new Uint8Array(32) as never, epoch: commits, data }),
    directFrame: (reqId, to, data) => ({ type: 'DIRECT', reqId, room: new Uint8Array(32) as never, to, data }),
    beforeSend: () => f.state.beforeSend(),
    sent: (id) => f.sent.push(id),
    unsent: (id, e) => f.unsent.push({ id, code: e.code }),
    refused: (name) => f.refused.push(name),
    failed: (e) => f.failed.push(e),
  };
  return { ...f, box: new Outbox(host, timings) };
}
const reqOf = (f: ClientFrame): ReqId => (f as { reqId: ReqId }).reqId;
const bodyOf = (f: ClientFrame) =>
  JSON.parse(new TextDecoder().decode((f as { data: Uint8Array }).data)) as { id: string; n: number; text: string };

test('application messages: at most `sendWindow` unacknowledged; an ACK sends `sent` and the next one; flush waits for all', async () => {
  const f = fake();
  const ids = ['a', 'b', 'c'].map((text) => f.box.enqueue({ type: 'text', text }));
  await f.drain();
  assert.equal(f.frames.length, 2, 'window of 2');
  assert.deepEqual(
    f.frames.map((x) => bodyOf(x).n),
    [1, 2],
  );
  let flushed = false;
  void f.box.flush().then(() => (flushed = true));
  assert.equal(f.box.acked(reqOf(f.frames[0]!)), true);
  await f.drain();
  assert.deepEqual(f.sent, [ids[0]]);
  assert.equal(f.frames.length, 3);
  f.box.acked(reqOf(f.frames[1]!));
  f.box.acked(reqOf(f.frames[2]!));
  await f.drain();
  assert.deepEqual(f.sent, ids);
  assert.equal(flushed, true);
  assert.equal(f.box.unsent, 0);
});

test('the token bucket holds frames without blocking the queue: a timer sends them once tokens are back', async () => {
  const f = fake({ sendWindow: 100, sendRate: 20, sendBurst: 2, sendTimeoutMs: 60_000 });
  for (let i = 0; i < 3; i++) f.box.enqueue({ type: 'text', text: `m${i}` });
  const start = Date.now();
  await f.drain();
  assert.equal(f.frames.length, 2, 'the burst');
  assert.ok(Date.now() - start < 40, 'the pump returned at once instead of sleeping for a token');
  await new Promise((r) => setTimeout(r, 120));
  await f.drain();
  assert.equal(f.frames.length, 3, 'the third after about 1/rate');
});

test('a commit sequenced before our ACK: the message is re-sent under the new commit count, keeping its n; its STALE_EPOCH is expected', async () => {
  const f = fake();
  f.box.enqueue({ type: 'text', text: 'x' });
  await f.drain();
  const first = f.frames[0]!;
  f.state.commits = asEpoch(1);
  f.box.commitSequenced(asEpoch(1));
  assert.equal(f.box.wasAbandoned(reqOf(first)), true, 'its refusal is ignored');
  f.box.schedulePump();
  await f.drain();
  assert.equal(f.frames.length, 2);
  assert.equal((f.frames[1] as { epoch: number }).epoch, 1);
  assert.equal(bodyOf(f.frames[1]!).n, bodyOf(first).n);
  assert.equal(bodyOf(f.frames[1]!).id, bodyOf(first).id);
});

test('a hidden private message: no room counter; re-wrapped (not re-sealed) under a commit sequenced before its ACK; saved and restored; a replay acknowledges it', async () => {
  const f = fake();
  const inner = Uint8Array.of(7, 7, 7);
  f.box.enqueue({ type: 'text', text: 'before' });
  const id = f.box.enqueueHidden(inner);
  f.box.enqueue({ type: 'text', text: 'after' });
  await f.drain();
  assert.equal(f.frames.length, 2, 'the window holds the third');
  const first = (f.frames[1] as { data: Uint8Array }).data;
  assert.deepEqual([...first], [0xff, 0, 7, 7, 7], 'wrapped under commit count 0');
  f.state.commits = asEpoch(1);
  f.box.commitSequenced(asEpoch(1));
  f.box.schedulePump();
  await f.drain();
  const again = (f.frames[3] as { data: Uint8Array }).data;
  assert.deepEqual([...again], [0xff, 1, 7, 7, 7], 'the same sealed message, wrapped again for the new commit count');
  f.box.acked(reqOf(f.frames[2]!));
  await f.drain();
  // The room payloads around it count 1, 2: the hidden one took no n.
  assert.deepEqual(
    f.frames.filter((x) => (x as { data: Uint8Array }).data[0] !== 0xff).map((x) => bodyOf(x).n),
    [1, 1, 2],
  );
  const saved = f.box.saved();
  assert.equal(saved.counter, 2);
  const g = fake();
  g.box.restore(saved.counter, saved.messages);
  assert.equal(g.box.ackedByData(again), true, 'the relay replays it after RESUME: acknowledged by its bytes');
  assert.deepEqual(g.sent, [id]);
});

test('a refused message is kept and re-sent (rate limit) or reported (another refusal), never dropped', async () => {
  const f = fake();
  f.box.enqueue({ type: 'text', text: 'x' });
  await f.drain();
  assert.equal(f.box.refusedFrame(reqOf(f.frames[0]!), 'NOT_IN_ROOM'), true);
  assert.deepEqual(f.refused, ['NOT_IN_ROOM']);
  assert.equal(f.box.unsent, 1);
  f.box.schedulePump();
  await f.drain();
  assert.equal(f.frames.length, 2);
});

test('direct frames: NO_SUCH_PEER tries the peer’s other slot, then fails PEER_UNAVAILABLE; a refusal is RELAY_ERROR', async () => {
  const f = fake();
  const slots = [5, 7];
  const target = (tried: ReadonlySet<number>) => slots.filter((s) => !tried.has(s)).at(-1);
  const p = f.box.direct(target, async () => new Uint8Array([1]));
  await f.drain();
  assert.equal((f.frames[0] as { to: number }).to, 7);
  f.box.refusedFrame(reqOf(f.frames[0]!), 'NO_SUCH_PEER');
  await f.drain();
  assert.equal((f.frames[1] as { to: number }).to, 5, 'the other leaf');
  f.box.refusedFrame(reqOf(f.frames[1]!), 'NO_SUCH_PEER');
  await assert.rejects(p, (e: unknown) => e instanceof ClientError && e.code === 'PEER_UNAVAILABLE' && e.relayCode === 'NO_SUCH_PEER');

  const q = f.box.direct(
    () => 5,
    async () => new Uint8Array([1]),
  );
  await f.drain();
  f.box.refusedFrame(reqOf(f.frames[2]!), 'BAD_FRAME');
  await assert.rejects(q, (e: unknown) => e instanceof ClientError && e.code === 'RELAY_ERROR' && e.relayCode === 'BAD_FRAME');
});

test('direct frames share the ACKs: an acknowledged one resolves; one for nobody (or for us) fails at once', async () => {
  const f = fake();
  const p = f.box.direct(
    () => 5,
    async () => new Uint8Array([1]),
  );
  await f.drain();
  assert.equal(f.box.owns(reqOf(f.frames[0]!)), true);
  f.box.acked(reqOf(f.frames[0]!));
  await p;
  await assert.rejects(
    f.box.direct(
      () => undefined,
      async () => new Uint8Array([1]),
    ),
    (e: unknown) => e instanceof ClientError && e.code === 'PEER_UNAVAILABLE',
  );
  await assert.rejects(
    f.box.direct(
      () => 1,
      async () => new Uint8Array([1]),
    ),
    (e: unknown) => e instanceof ClientError && e.code === 'PEER_UNAVAILABLE',
  );
});

test('reset: everything unacknowledged is sent again, probes are dropped; close fails what waits', async () => {
  const f = fake();
  f.box.enqueue({ type: 'text', text: 'x' });
  const probe = f.box.direct(
    () => 5,
    async () => new Uint8Array(0),
    true,
  );
  const msg = f.box.direct(
    () => 6,
    async () => new Uint8Array([1]),
  );
  await f.drain();
  assert.equal(f.frames.length, 3);
  f.box.reset();
  f.box.schedulePump();
  await f.drain();
  assert.deepEqual(
    f.frames
      .slice(3)
      .map((x) => x.type)
      .sort(),
    ['APP', 'DIRECT'],
    'the probe is not re-sent',
  );
  f.box.close(new ClientError('NOT_JOINED', 'left'));
  await assert.rejects(msg, (e: unknown) => e instanceof ClientError && e.code === 'NOT_JOINED');
  void probe.catch(() => undefined);
});

test('a message that cannot be encrypted is dropped with INTERNAL (not left hanging), and flush resolves', async () => {
  const f = fake();
  f.state.encryptFails = true;
  f.box.enqueue({ type: 'text', text: 'x' });
  const flushed = f.box.flush();
  await f.drain();
  await flushed;
  assert.equal(f.box.unsent, 0);
  assert.equal(f.failed.length, 1);
  assert.ok(f.failed[0] instanceof ClientError && f.failed[0].code === 'INTERNAL');
  assert.deepEqual(
    f.unsent.map((u) => u.code),
    ['INTERNAL'],
    'and it is reported unsent, not left pending',
  );
});

test('a message that cannot go within sendTimeoutMs is reported unsent (SEND_TIMED_OUT); retry queues it again with its id; leaving reports the rest', async () => {
  const f = fake({ sendWindow: 2, sendRate: 1000, sendBurst: 1000, sendTimeoutMs: 50 });
  f.state.open = false; // the connection is down
  const id = f.box.enqueue({ type: 'text', text: 'offline' });
  await new Promise((r) => setTimeout(r, 80));
  await f.drain();
  assert.deepEqual(f.unsent, [{ id, code: 'SEND_TIMED_OUT' }]);
  assert.equal(f.box.unsent, 0);
  assert.equal(f.frames.length, 0);
  f.state.open = true;
  assert.equal(f.box.retry(id), true);
  assert.equal(f.box.retry(id), false, 'once');
  await f.drain();
  assert.equal(f.frames.length, 1);
  assert.equal(bodyOf(f.frames[0]!).id, id, 'the same id');
  f.box.acked(reqOf(f.frames[0]!));
  assert.deepEqual(f.sent, [id]);
  await new Promise((r) => setTimeout(r, 80));
  await f.drain();
  assert.equal(f.unsent.length, 1, 'an acknowledged message never times out');
  // In flight when the time is up: it waits for its answer.
  const inflight = f.box.enqueue({ type: 'text', text: 'slow ack' });
  await f.drain();
  await new Promise((r) => setTimeout(r, 80));
  await f.drain();
  assert.equal(f.unsent.length, 1, 'not given up while in flight');
  f.state.open = false;
  const left = f.box.enqueue({ type: 'text', text: 'left behind' });
  f.box.close(new ClientError('NOT_JOINED', 'left'));
  assert.deepEqual(f.unsent.slice(1), [
    { id: inflight, code: 'NOT_JOINED' },
    { id: left, code: 'NOT_JOINED' },
  ]);
});

test('a long operation on the queue (a slow disk writing the session) does not delay "not sent"; the message being written is not given up', async () => {
  const f = fake({ sendWindow: 2, sendRate: 1000, sendBurst: 1000, sendTimeoutMs: 50 });
  let writeDone!: () => void;
  f.state.beforeSend = () => new Promise<void>((r) => (writeDone = r)); // the session write hangs
  const writing = f.box.enqueue({ type: 'text', text: 'being written' });
  await new Promise((r) => setTimeout(r, 10));
  f.state.open = false; // then the connection drops
  const waiting = f.box.enqueue({ type: 'text', text: 'typed while down' });
  await new Promise((r) => setTimeout(r, 120)); // the queue is still held by the write
  assert.deepEqual(f.unsent, [{ id: waiting, code: 'SEND_TIMED_OUT' }], 'told at its time, not when the queue is free');
  writeDone();
  await f.drain();
  assert.equal(f.frames.length, 1, 'the one being written went out');
  assert.equal(bodyOf(f.frames[0]!).id, writing);
  f.box.acked(reqOf(f.frames[0]!));
  assert.deepEqual(f.sent, [writing]);
});

test('nothing goes while the conversation is not open', async () => {
  const f = fake();
  f.state.open = false;
  f.box.enqueue({ type: 'text', text: 'x' });
  await f.drain();
  assert.equal(f.frames.length, 0);
  f.state.open = true;
  f.box.schedulePump();
  await f.drain();
  assert.equal(f.frames.length, 1);
});
