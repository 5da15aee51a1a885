/**
 * Several relay nodes on one Redis (docs/OPERATING.md "Several nodes"), as an operator runs them:
 * three `nullroom serve --redis-url` processes, and real clients on different nodes in one room,
 * each given the other nodes as fallbacks. One node is killed with SIGKILL while its member and
 * another are sending: the member moves to another node and resumes its slot, nobody sees it
 * leave, and every message that was acknowledged reaches every other member once, in its sender's
 * order; Redis holds no room name, password, nickname or text (canaries). Another node stopped
 * with SIGTERM hands its member on the same way. Needs REDIS_URL
 * (CI sets it); skipped with a notice without it.
 */
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { NullroomClient, type Room, deriveRoomSecret } from '@nullroom/client';
import { nodeWebSocket } from '@nullroom/client/node';
import { type Proc, keyDir, run } from './_spawn.js';

const REDIS_URL = process.env.REDIS_URL;
const skip = REDIS_URL === undefined ? 'REDIS_URL is not set: the cluster test needs a Redis (CI sets it)' : undefined;
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

async function node(prefix: string): Promise<{ proc: Proc; url: string }> {
  const proc = run(
    ['serve', '--port', '0', '--no-accounts', '--data', keyDir(), '--redis-url', REDIS_URL!, '--cluster-prefix', prefix],
    {},
  );
  const line = await proc.waitLine((l) => l.startsWith('nullroom listening on '), 'the node listens', 15_000);
  return { proc, url: line.slice('nullroom listening on '.length).trim() };
}

interface Member {
  nick: string;
  client: NullroomClient;
  room: Room;
  /** What it received: "nick:text". */
  got: string[];
  left: string[];
  /** Ids of its own messages the relay acknowledged. */
  acked: Set<string>;
}

async function member(urls: string[], secret: Awaited<ReturnType<typeof deriveRoomSecret>>, nick: string): Promise<Member> {
  const client = new NullroomClient({ url: urls[0]!, fallbackUrls: urls.slice(1), webSocket: nodeWebSocket({}) });
  await client.connect();
  const room = await client.join({ secret, nick });
  const m: Member = { nick, client, room, got: [], left: [], acked: new Set() };
  room.on('message', (e) => m.got.push(`${e.from}:${e.text}`));
  room.on('member-left', (e) => m.left.push(String((e as { nick?: string }).nick ?? '?')));
  room.on('sent', (e) => m.acked.add(e.id));
  return m;
}

/** Every byte Redis holds under the prefix: key names and values, whatever their type. */
async function redisBytes(prefix: string): Promise<Buffer> {
  const r = new Redis(REDIS_URL!, { lazyConnect: true });
  await r.connect();
  const parts: Buffer[] = [];
  const add = (v: unknown): void => {
    if (Buffer.isBuffer(v)) parts.push(v);
    else if (Array.isArray(v)) for (const x of v) add(x);
    else if (v !== null && v !== undefined) parts.push(Buffer.from(String(v)));
  };
  for (const key of await r.keys(`${prefix}*`)) {
    add(key);
    const type = await r.type(key);
    if (type === 'string') add(await r.getBuffer(key));
    else if (type === 'hash') add(await r.hgetallBuffer(key));
    else if (type === 'list') add(await r.lrangeBuffer(key, 0, -1));
    else if (type === 'set') add(await r.smembersBuffer(key));
    else if (type === 'zset') add(await r.zrangeBuffer(key, 0, -1));
    else if (type === 'stream') add(await r.xrangeBuffer(key, '-', '+'));
  }
  r.disconnect();
  return Buffer.concat(parts);
}

async function dropPrefix(prefix: string): Promise<void> {
  const r = new Redis(REDIS_URL!, { lazyConnect: true });
  await r.connect();
  const keys = await r.keys(`${prefix}*`);
  if (keys.length > 0) await r.del(...keys);
  r.disconnect();
}

test('three nodes: a node killed under load, another stopped; its members resume elsewhere and nothing acknowledged is lost', {
  skip,
}, async (t) => {
  const prefix = `nrclitest:${randomBytes(5).toString('hex')}:`;
  const nodes = [await node(prefix), await node(prefix), await node(prefix)];
  const members: Member[] = [];
  t.after(async () => {
    for (const m of members) await m.client.close();
    for (const n of nodes) n.proc.child.kill('SIGKILL');
    await dropPrefix(prefix);
  });
  const urls = nodes.map((n) => n.url);
  const canary = `cnry${randomBytes(6).toString('hex')}`;
  const secret = await deriveRoomSecret(`${canary}-room`, `${canary}-password`);
  // Member i starts on node i, the others its fallbacks in turn.
  for (const [i, nick] of ['alice', 'bob', 'carol'].entries())
    members.push(await member([...urls.slice(i), ...urls.slice(0, i)], secret, nick));
  const [alice, bob, carol] = members as [Member, Member, Member];
  await until(() => members.every((m) => m.room.members().length === 3), 'three members');

  const sent = new Map<string, string[]>([
    ['alice', []],
    ['bob', []],
  ]);
  const say = (m: Member, text: string) => {
    m.room.send(text);
    sent.get(m.nick)!.push(text);
  };
  for (let i = 0; i < 30; i++) {
    say(alice, `a${i} ${canary}-text`);
    say(bob, `b${i} ${canary}-text`);
    if (i === 10) nodes[0]!.proc.child.kill('SIGKILL'); // alice's node dies mid-stream
    await sleep(15);
  }
  assert.equal(await nodes[0]!.proc.exited, null, 'killed by a signal');
  await until(() => alice.acked.size === 30 && bob.acked.size === 30, 'every message acknowledged');
  const expect = (m: Member, from: string) =>
    sent
      .get(from)!
      .map((x) => `${from}:${x}`)
      .filter(() => m.nick !== from);
  const of = (m: Member, from: string) => m.got.filter((g) => g.startsWith(`${from}:`));
  await until(
    () => members.every((m) => of(m, 'alice').length >= expect(m, 'alice').length && of(m, 'bob').length >= expect(m, 'bob').length),
    'every member reads every message',
  );
  for (const m of members) {
    assert.deepEqual(of(m, 'alice'), expect(m, 'alice'), `${m.nick} reads alice's messages once, in order`);
    assert.deepEqual(of(m, 'bob'), expect(m, 'bob'), `${m.nick} reads bob's messages once, in order`);
    assert.deepEqual(m.left, [], `${m.nick} saw nobody leave`);
  }

  // What the nodes keep in Redis: no room name, password, nickname or message text.
  const held = await redisBytes(prefix);
  assert.ok(held.length > 1000, 'the room is in Redis');
  for (const secretWord of [canary, 'alice', 'carol']) assert.equal(held.indexOf(secretWord), -1, `${secretWord} is not in Redis`);

  // SIGTERM: bob's node drains; bob moves on and the room goes on.
  nodes[1]!.proc.child.kill('SIGTERM');
  assert.equal(await nodes[1]!.proc.exited, 0);
  say(bob, 'after the drain');
  say(alice, 'still here');
  await until(
    () => carol.got.includes('bob:after the drain') && carol.got.includes('alice:still here'),
    'carol reads both after the drain',
  );
  await until(() => alice.got.includes('bob:after the drain'), 'alice reads bob after the drain');
  for (const m of members) assert.deepEqual(m.left, [], `${m.nick} saw nobody leave`);
});
