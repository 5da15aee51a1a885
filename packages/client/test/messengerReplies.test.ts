/**
 * Replies in account conversations (src/messenger.ts, src/conversationLog.ts, src/historyRecord.ts;
 * docs/PROTOCOL.md §11.13) on a real relay with real MLS:
 *  - bob answers alice's message: alice's `message` event and both histories carry `replyTo`, and
 *    `Messenger.message` finds what it answers for the quote;
 *  - a reply to a message the history does not have, or to no message id, is refused
 *    (NO_SUCH_MESSAGE) and nothing is sent or recorded;
 *  - a peer's text whose `re` is no message id (a wrong length, a number) is kept without it;
 *  - after a restart on the terminal's sealed records every `replyTo` is still there;
 *  - nothing the relay is sent holds a text or a replied-to id in the clear.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { MessageHistory, Messenger, type MessengerStore, type ReceivedMessage } from '../src/accounts.js';
import { ClientError } from '../src/errors.js';
import { FileMessengerStore, nodeWebSocket } from '../src/node/index.js';
import type { WebSocketFactory } from '../src/transport.js';
import { type AccountDevice, accountsRelay, registered, scratch, until } from './_accountsRelay.js';

const dir = scratch('messenger-replies');

interface Dev extends Omit<AccountDevice, 'store'> {
  store: MessengerStore;
  history: MessageHistory;
}

/** Every frame any device wrote to the relay. */
const wire: Uint8Array[] = [];

async function device(url: string, name: string): Promise<Dev> {
  return { ...(await registered(url, name)), history: MessageHistory.memory() };
}

function start(url: string, d: Dev): Promise<Messenger> {
  const inner = nodeWebSocket({ headers: { authorization: `Bearer ${d.token}` } });
  const socket: WebSocketFactory = (u, p) => {
    const ws = inner(u, p);
    const send = ws.send.bind(ws);
    ws.send = (data) => {
      wire.push(new Uint8Array(data).slice());
      send(data);
    };
    return ws;
  };
  const { name, me, device: id, devices, store, history } = d;
  return Messenger.start({ url, name, me, device: id, devices, socket, store, history, keyPackages: 3 });
}

/** Sends a text payload with any `re` at all, as a hostile or broken client would (past sendText's checks). */
function sendRawReply(m: Messenger, id: string, text: string, re: unknown): Promise<string> {
  const raw = m as unknown as { sendMessage(id: string, body: unknown, record: { text: string }): Promise<string> };
  return raw.sendMessage(id, { type: 'text', text, re }, { text });
}

test('replies: replyTo travels, is kept through a restart, a bad `re` loses only itself, nothing in the clear', async () => {
  const r = await accountsRelay(join(dir, 'relay.db'));
  try {
    const alice = await device(r.url, 'alice');
    const bob = await device(r.url, 'bob');
    const keyDir = join(dir, 'bob-keys');
    let file = await FileMessengerStore.open(keyDir, r.url, 'bob');
    bob.store = file;
    bob.history = new MessageHistory(file.history());
    const mAlice = await start(r.url, alice);
    let mBob = await start(r.url, bob);
    const atAlice: ReceivedMessage[] = [];
    const atBob: ReceivedMessage[] = [];
    mAlice.on('message', (x) => atAlice.push(x));
    mBob.on('message', (x) => atBob.push(x));
    let joined = false;
    mBob.on('conversation', () => (joined = true));
    const id = await mAlice.startConversation(['bob']);
    await until(() => joined, 'bob joins');

    const question = await mAlice.sendText(id, 'canary-reply-question');
    await until(() => atBob.length === 1, 'the question at bob');
    await mBob.settled();
    const answer = await mBob.sendText(id, 'canary-reply-answer', { replyTo: question });
    await until(() => atAlice.length === 1, 'the answer at alice');
    assert.deepEqual([atAlice[0]?.id, atAlice[0]?.text, atAlice[0]?.replyTo], [answer, 'canary-reply-answer', question]);
    await mAlice.settled();
    const quoted = await mAlice.message(id, atAlice[0]!.replyTo!);
    assert.deepEqual([quoted?.text, quoted?.from, quoted?.own], ['canary-reply-question', 'alice', true], 'the quote, found');
    assert.equal((await mAlice.messages(id)).at(-1)?.replyTo, question, "in alice's history");
    assert.equal((await mBob.messages(id)).at(-1)?.replyTo, question, "bob's own reply, in his history");
    assert.equal(await mAlice.message(id, 'f'.repeat(32)), undefined);

    // Replies only to what this conversation's history has.
    const before = (await mBob.messages(id)).length;
    for (const replyTo of ['0'.repeat(32), 'not a message id', question.toUpperCase()]) {
      await assert.rejects(
        mBob.sendText(id, 'canary-reply-nowhere', { replyTo }),
        (e: unknown) => e instanceof ClientError && e.code === 'NO_SUCH_MESSAGE',
        replyTo,
      );
    }
    assert.equal((await mBob.messages(id)).length, before, 'nothing recorded');

    // alice answers bob (a reply bob receives), then sends two texts with an `re` that is no message id.
    const back = await mAlice.sendText(id, 'canary-reply-back', { replyTo: answer });
    await sendRawReply(mAlice, id, 'canary-reply-short-re', 'e0e1');
    await sendRawReply(mAlice, id, 'canary-reply-number-re', 42);
    await until(() => atBob.length === 4, 'the three at bob');
    assert.deepEqual(
      atBob.slice(1).map((x) => [x.text, x.replyTo]),
      [
        ['canary-reply-back', answer],
        ['canary-reply-short-re', undefined],
        ['canary-reply-number-re', undefined],
      ],
    );
    const warnings: string[] = [];
    mBob.on('warning', (w) => warnings.push(w.code));
    await mBob.settled();

    // bob starts again on his sealed records: every replyTo is still there.
    mBob.close();
    await file.close();
    file = await FileMessengerStore.open(keyDir, r.url, 'bob');
    bob.store = file;
    bob.history = new MessageHistory(file.history());
    mBob = await start(r.url, bob);
    await mBob.caughtUp();
    assert.deepEqual(
      (await mBob.messages(id)).map((m) => [m.text, m.replyTo]),
      [
        ['canary-reply-question', undefined],
        ['canary-reply-answer', question],
        ['canary-reply-back', answer],
        ['canary-reply-short-re', undefined],
        ['canary-reply-number-re', undefined],
      ],
    );
    assert.equal((await mBob.message(id, back))?.replyTo, answer);
    assert.deepEqual(warnings, [], 'a bad `re` is no warning: the message is kept');

    const sent = Buffer.concat(wire);
    for (const clear of ['canary-reply', question, answer]) assert.ok(!sent.includes(clear), `${clear} reached the relay in the clear`);
    mBob.close();
    mAlice.close();
    await file.close();
  } finally {
    await r.close();
  }
});
