/**
 * Everyday chat on a real relay (docs/PROTOCOL.md §5.4, chatLog.ts): replies, reactions, edits,
 * deletes and typing between real clients, and a member who tries to edit or delete others'
 * messages, react to what does not exist, or flood a message with reactions.
 */
import { type TestContext, afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientError, PRIVATE_ROUTINGS, type PrivateChat, PrivateChats, type RoomEvents } from '../src/index.js';
import { closeAll, converged, member, twoMembers, until, type TestClient } from './_harness.js';
import { parsePayload, encodePayload, isReaction } from '../src/payload.js';

afterEach(closeAll);

/** Every chat event a client's room emits, in order. */
function record(c: TestClient) {
  const seen: { [K in 'message' | 'reaction' | 'edited' | 'deleted' | 'typing']: RoomEvents[K][] } = {
    message: [],
    reaction: [],
    edited: [],
    deleted: [],
    typing: [],
  };
  for (const k of Object.keys(seen) as (keyof typeof seen)[]) c.room.on(k, (e) => (seen[k] as unknown[]).push(e));
  return seen;
}

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return e instanceof ClientError ? e.code : 'not a ClientError';
  }
  return 'no error';
};

async function three(t: TestContext) {
  const { r, secret, a, b } = await twoMembers({}, t);
  const m = await member(r.url, secret, 'mallory');
  await until(() => converged([a, b, m], ['alice', 'bob', 'mallory']), 'three members');
  return { a, b, m };
}

test('a reply names its original; the receiver quotes it, or knows it does not have it', async (t) => {
  const { a, b } = await twoMembers({}, t);
  const seenB = record(b);
  const first = a.room.send('lunch at noon?');
  await until(() => seenB.message.length === 1, 'bob has the question');
  const answer = b.room.send('yes!', { replyTo: first });
  const seenA = record(a);
  await until(() => seenA.message.length === 1, 'alice has the answer');
  assert.equal(seenA.message[0]!.replyTo, first);
  assert.equal(a.room.message(first)?.text, 'lunch at noon?');
  assert.equal(a.room.message(answer)?.replyTo, first);
  assert.equal(
    code(() => a.room.send('x', { replyTo: 'ab'.repeat(16) })),
    'NO_SUCH_MESSAGE',
  );
});

test('reactions add and come back off, with who and ours; edits and deletes reach everyone and are acknowledged', async (t) => {
  const { a, b } = await twoMembers({}, t);
  const seenA = record(a);
  const seenB = record(b);
  const id = a.room.send('first draft');
  await until(() => seenB.message.length === 1, 'bob has it');
  b.room.react(id, '👍');
  a.room.react(id, '👍');
  await until(() => seenB.reaction.length === 2 && seenA.reaction.length === 2, 'both reactions everywhere');
  assert.deepEqual(b.room.message(id)?.reactions, [{ emoji: '👍', count: 2, from: ['bob', 'alice'], mine: true }]);
  b.room.react(id, '👍', false);
  await until(() => a.room.message(id)?.reactions[0]?.count === 1, 'bob took his back');
  assert.deepEqual(a.room.message(id)?.reactions, [{ emoji: '👍', count: 1, from: ['alice'], mine: true }]);
  assert.equal(
    code(() => b.room.react(id, 'no')),
    'BAD_REACTION',
  );

  const sent: string[] = [];
  a.room.on('sent', (e) => sent.push(e.id));
  const editId = a.room.edit(id, 'final text');
  await until(() => seenB.edited.length === 1, 'bob sees the edit');
  assert.deepEqual(seenB.edited[0], { id, text: 'final text', from: 'alice', self: false });
  assert.equal(b.room.message(id)?.text, 'final text');
  assert.equal(b.room.message(id)?.edited, true);
  await until(() => sent.includes(editId), 'the relay acknowledged the edit');
  const delId = a.room.delete(id);
  await until(() => seenB.deleted.length === 1 && sent.includes(delId), 'bob sees the delete, acknowledged');
  assert.equal(b.room.message(id)?.deleted, true);
  assert.equal(b.room.message(id)?.text, '');
  assert.equal(
    code(() => a.room.edit(id, 'again')),
    'NO_SUCH_MESSAGE',
  );
  assert.equal(
    code(() => b.room.react(id, '👍')),
    'NO_SUCH_MESSAGE',
  );
});

test('a member cannot edit or delete someone else’s message, and cannot flood one with reactions', async (t) => {
  const { a, b, m } = await three(t);
  const seenB = record(b);
  const seenM = record(m);
  const id = a.room.send('the meeting is at 3');
  await until(() => seenB.message.length === 1 && seenM.message.length === 1, 'everyone has it');
  // Through the SDK: refused before anything is sent.
  assert.equal(
    code(() => m.room.edit(id, 'the meeting is cancelled')),
    'NOT_YOURS',
  );
  assert.equal(
    code(() => m.room.delete(id)),
    'NOT_YOURS',
  );
  // Forged payloads, sent as the SDK would send anything: receivers ignore them.
  m.room.sendPayload({ type: 'edit', target: id, text: 'the meeting is cancelled' });
  m.room.sendPayload({ type: 'delete', target: id });
  m.room.sendPayload({ type: 'edit', target: 'ab'.repeat(16), text: 'nothing there' });
  m.room.sendPayload({ type: 'react', target: 'cd'.repeat(16), emoji: '🔥', on: true });
  for (let i = 0; i < 60; i++) m.room.sendPayload({ type: 'react', target: id, emoji: String.fromCodePoint(0x1f600 + i), on: true });
  const marker = m.room.send('done');
  await until(() => b.room.message(marker) !== undefined, 'bob read everything mallory sent');
  assert.equal(b.room.message(id)?.text, 'the meeting is at 3');
  assert.equal(b.room.message(id)?.edited, false);
  assert.equal(b.room.message(id)?.deleted, false);
  assert.equal(seenB.edited.length + seenB.deleted.length, 0);
  const reactions = b.room.message(id)?.reactions ?? [];
  assert.equal(reactions.length, 8, 'at most 8 reactions of one member on a message');
  assert.ok(reactions.every((r) => r.from.join() === 'mallory'));
  // Alice's own edit still counts.
  a.room.edit(id, 'the meeting is at 4');
  await until(() => b.room.message(id)?.text === 'the meeting is at 4', "alice's edit");
});

test('typing: rate limited where it is sent, ended by a message, expiring where it is received', async (t) => {
  const { a, b } = await twoMembers({}, t);
  const seenB = record(b);
  assert.equal(a.room.typing(false), false, 'no off before an on');
  assert.equal(a.room.typing(true), true);
  assert.equal(a.room.typing(true), false, 'one on per 3 s');
  await until(() => seenB.typing.length === 1, 'bob sees alice typing');
  assert.deepEqual(seenB.typing[0], { from: 'alice', on: true });
  assert.deepEqual(b.room.typingNow(), ['alice']);
  a.room.send('hi');
  await until(() => seenB.typing.length === 2, 'her message ends it');
  assert.deepEqual(seenB.typing[1], { from: 'alice', on: false });
  assert.equal(a.room.typing(true), true, 'a message resets the limit');
  await until(() => seenB.typing.length === 3, 'typing again');
  const start = Date.now();
  await until(() => seenB.typing.length === 4, 'it expires', 9000);
  assert.ok(Date.now() - start > 4000, 'after about 6 s');
  assert.deepEqual(b.room.typingNow(), []);
});

test('reaction payloads: one emoji of at most 32 bytes', () => {
  for (const ok of ['👍', '❤️', '🇫🇷', '👨‍👩‍👧‍👦', '1️⃣', '🏳️‍🌈']) assert.ok(isReaction(ok), ok);
  for (const bad of ['', 'a', '👍👍', '👍 ', 'ok👍', '\u200d', '🇫']) assert.ok(!isReaction(bad), JSON.stringify(bad));
  const base = { v: 1 as const, id: '00'.repeat(16), n: 1, ts: 0, type: 'react' as const, target: '11'.repeat(16), on: true };
  assert.ok(parsePayload(encodePayload({ ...base, emoji: '🎉' })) !== undefined);
  assert.equal(parsePayload(encodePayload({ ...base, emoji: 'x' })), undefined);
  assert.equal(parsePayload(new TextEncoder().encode(JSON.stringify({ ...base, emoji: '🎉', extra: 1 }))), undefined);
  const typing = { v: 1, id: '00'.repeat(16), n: 1, ts: 0, type: 'typing', on: 'yes' };
  assert.equal(parsePayload(new TextEncoder().encode(JSON.stringify(typing))), undefined);
});

for (const routing of PRIVATE_ROUTINGS) {
  test(`private chats (${routing}): replies, reactions, edits, deletes and typing between the two; the peer cannot edit ours`, async (t) => {
    const { a, b } = await twoMembers({}, t);
    const ca = new PrivateChats(a.room, { routing });
    const cb = new PrivateChats(b.room, { routing });
    t.after(() => (ca.close(), cb.close()));
    const gotB: { text: string; id: string; replyTo?: string }[] = [];
    const gotA: typeof gotB = [];
    cb.on('message', (e) => gotB.push(e));
    ca.on('message', (e) => gotA.push(e));
    let chatB: PrivateChat | undefined;
    cb.on('opened', (e) => (chatB = e.chat));
    const chatA = await ca.open('bob');
    const first = chatA.send('just between us');
    await until(() => gotB.length === 1 && chatB !== undefined, 'bob reads it');
    const peer = chatB!;
    assert.equal(gotB[0]!.id, first);
    peer.send('agreed', { replyTo: first });
    await until(() => gotA.length === 1, 'alice reads the reply');
    assert.equal(gotA[0]!.replyTo, first);
    const reactions: unknown[] = [];
    chatA.on('reaction', (e) => reactions.push(e));
    peer.react(first, '🤝');
    await until(() => reactions.length === 1, 'alice sees the reaction');
    assert.deepEqual(chatA.message(first)?.reactions, [{ emoji: '🤝', count: 1, from: ['bob'], mine: false }]);
    // The peer forges an edit and a delete of alice's message: ignored; its own client refuses.
    assert.equal(
      code(() => peer.edit(first, 'forged')),
      'NOT_YOURS',
    );
    await peer.sendPayload({ type: 'edit', target: first, text: 'forged' });
    await peer.sendPayload({ type: 'delete', target: first });
    const typing: unknown[] = [];
    chatA.on('typing', (e) => typing.push(e));
    assert.equal(peer.typing(true), true);
    await until(() => typing.length === 1, 'alice sees bob typing');
    assert.equal(chatA.message(first)?.text, 'just between us');
    assert.equal(chatA.message(first)?.deleted, false);
    const edits: unknown[] = [];
    peer.on('edited', (e) => edits.push(e));
    chatA.edit(first, 'just between the two of us');
    await until(() => edits.length === 1, 'bob sees the edit');
    assert.equal(peer.message(first)?.text, 'just between the two of us');
    chatA.delete(first);
    await until(() => peer.message(first)?.deleted === true, 'bob sees the delete');
    // Nothing of it reached the room.
    assert.ok(!a.messages.concat(b.messages).some((m) => m.text.includes('between')));
  });
}
