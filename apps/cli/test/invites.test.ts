/**
 * Issue 13 in the terminal: an invite room joined with `--invite` (the link from NULLROOM_INVITE,
 * never the command line) is called by the name its members gave it, shown in `joined` and in the
 * prompt; `/rename` reaches the others; and a private chat ends clearly: `/close` alone in private
 * mode closes it (the room stays), and a peer who leaves the room closes it with a clear line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NullroomClient, RoomName, inviteFragment, randomRoomSecret, roomLabel } from '@nullroom/client';
import { nodeWebSocket } from '@nullroom/client/node';
import { humanLine } from '../src/output.js';
import { chatMembers, type Proc, run, serveProc } from './_spawn.js';

test('--invite: the room is called by the name a member tells; /rename reaches everyone; an unnamed one shows its label', async () => {
  const { proc: relay, url } = await serveProc();
  const procs: Proc[] = [];
  const host = new NullroomClient({ url, webSocket: nodeWebSocket() });
  try {
    // The host (the SDK, as the web app does) creates a named invite room.
    await host.connect();
    const secret = randomRoomSecret();
    let names: RoomName | undefined;
    await host.join({ secret, nick: 'host', onRoom: (r) => (names = new RoomName(r, 'Book club')) });
    const link = `${url}/${inviteFragment(secret)}`;
    const chat = (nick: string, invite: string) => {
      const p = run(['chat', url, '--invite', '--nick', nick, '--json'], { NULLROOM_INVITE: invite });
      procs.push(p);
      return p;
    };
    const a = chat('alice', link);
    const joined = await a.waitFor((e) => e['event'] === 'joined', 'alice joined');
    const told = await a.waitFor((e) => e['event'] === 'room-name', 'alice is told the name');
    assert.deepEqual(told, { event: 'room-name', name: 'Book club', by: 'host', self: false, told: true });
    assert.match(String(joined['room']), /^(invite room [0-9A-Z]{4}-[0-9A-Z]{4}|Book club)$/);

    a.child.stdin.write('/rename   \n');
    assert.equal((await a.waitFor((e) => e['event'] === 'error', '/rename alone'))['code'], 'USAGE');
    a.child.stdin.write(`/rename ${'x'.repeat(65)}\n`);
    assert.equal((await a.waitFor((e) => e['event'] === 'error' && e['code'] !== 'USAGE', 'too long'))['code'], 'BAD_ROOM_NAME');
    a.child.stdin.write('/rename Reading group\n');
    await a.waitFor((e) => e['event'] === 'room-name' && e['self'] === true && e['name'] === 'Reading group', 'alice renamed');
    await new Promise<void>((resolve) => names!.on('name', (e) => e.name === 'Reading group' && e.by === 'alice' && resolve()));

    // Only the fragment matters (a bare `#k=…` works); a wrong one is a usage error.
    const b = chat('bob', inviteFragment(secret));
    await b.waitFor((e) => e['event'] === 'room-name' && e['name'] === 'Reading group' && e['told'] === true, 'bob is told the new name');
    const bad = chat('eve', `${url}/#k=tooshort`);
    assert.equal(await bad.exited, 2);
    assert.match(bad.stderr.join('\n'), /not an invite link/);

    // Nobody has named this one: its label.
    const other = randomRoomSecret();
    const c = chat('carol', `${url}/${inviteFragment(other)}`);
    const cj = await c.waitFor((e) => e['event'] === 'joined', 'carol joined');
    assert.equal(cj['room'], `invite room ${await roomLabel(other)}`);
    assert.equal(
      humanLine(cj as Parameters<typeof humanLine>[0]),
      `* joined “invite room ${await roomLabel(other)}” as carol. Nobody is here yet: you started this room.`,
    );
    for (const p of procs.slice(0, 2).concat(c)) p.child.stdin.end();
    for (const p of [a, b, c]) assert.equal(await p.exited, 0);
  } finally {
    await host.close();
    for (const p of procs) p.child.kill('SIGTERM');
    relay.child.kill('SIGTERM');
  }
});

test('private chats end clearly: /close alone in private mode closes it (the peer reads who closed it, the room stays); a peer who leaves the room closes it', async () => {
  const { proc: relay, url } = await serveProc(['--resume-grace', '0']);
  const procs: Proc[] = [];
  const PW = { NULLROOM_PASSWORD: 'private chats end clearly' };
  try {
    const chat = chatMembers(url, 'ending-room', PW, procs);
    const [a, b, c] = [chat('alice'), chat('bob'), chat('carol')];
    for (const p of [a, b, c]) await p.waitFor((e) => e['event'] === 'joined', 'joined');
    // The three start at once: alice may join after either of them (then her `joined` lists them).
    for (const nick of ['bob', 'carol'])
      await a.waitFor(
        (e) =>
          (e['event'] === 'member-joined' && e['nick'] === nick) ||
          (e['event'] === 'joined' && Array.isArray(e['members']) && e['members'].includes(nick)),
        `alice sees ${nick}`,
      );
    a.child.stdin.write('/close\n');
    assert.equal((await a.waitFor((e) => e['event'] === 'error', '/close alone in the room'))['code'], 'USAGE');

    a.child.stdin.write('/dm bob\n');
    a.child.stdin.write('just us\n');
    await b.waitFor((e) => e['event'] === 'message' && e['private'] === true && e['text'] === 'just us', 'bob reads');
    a.child.stdin.write('/close\n');
    await a.waitFor((e) => e['event'] === 'private-closed' && e['with'] === 'bob' && e['byUs'] === true, 'alice closed it');
    await a.waitFor((e) => e['event'] === 'mode' && e['mode'] === 'room', 'back in the room');
    const closed = await b.waitFor((e) => e['event'] === 'private-closed', 'bob hears it');
    assert.equal(humanLine(closed as Parameters<typeof humanLine>[0]), '* alice closed the private chat');
    a.child.stdin.write('the room goes on\n');
    await c.waitFor((e) => e['event'] === 'message' && e['text'] === 'the room goes on', 'carol reads the room');

    // carol leaves: alice's chat with her says so, and private mode ends.
    a.child.stdin.write('/dm carol\n');
    a.child.stdin.write('before you go\n');
    await c.waitFor((e) => e['event'] === 'message' && e['private'] === true && e['text'] === 'before you go', 'carol reads');
    c.child.stdin.end();
    assert.equal(await c.exited, 0);
    const left = await a.waitFor((e) => e['event'] === 'private-peer-left', 'alice hears that carol left');
    assert.equal(left['with'], 'carol');
    assert.equal(humanLine(left as Parameters<typeof humanLine>[0]), '* carol left the room: the private chat with carol is closed');
    const backInRoom = () => a.events.filter((e) => e['event'] === 'mode' && e['mode'] === 'room').length;
    await a.waitFor(() => backInRoom() === 2, 'private mode ended (after /close, then after carol left)');
    for (const p of [a, b]) p.child.stdin.end();
    for (const p of [a, b]) assert.equal(await p.exited, 0);
  } finally {
    for (const p of procs) p.child.kill('SIGTERM');
    relay.child.kill('SIGTERM');
  }
});
