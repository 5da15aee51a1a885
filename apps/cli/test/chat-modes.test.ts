/**
 * The chat commands made pleasant (issue 13): private mode (`/dm NICK` ... `/room`), `/members`
 * with who is verified and who is you, `/help` as an event under --json, Tab completion, the
 * safety number as a 3 x 4 grid, and the joined line (a room we started, a reconnection).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMMANDS } from '../src/commands.js';
import { complete } from '../src/completion.js';
import { helpTable, humanLine, safetyGrid } from '../src/output.js';
import { chatMembers, type Proc, serveProc } from './_spawn.js';

const PW = { NULLROOM_PASSWORD: 'test password for chat modes' };

test('private mode: /dm NICK sends every line to NICK until /room; /dm NICK TEXT still sends one; /help is an event', async () => {
  const { proc: relay, url } = await serveProc();
  const procs: Proc[] = [];
  try {
    const chat = chatMembers(url, 'modes-room', PW, procs);
    const a = chat('alice');
    await a.waitFor((e) => e['event'] === 'joined', 'alice joined');
    const b = chat('bob');
    const c = chat('carol');
    await b.waitFor((e) => e['event'] === 'joined', 'bob joined');
    await c.waitFor((e) => e['event'] === 'joined', 'carol joined');
    for (const nick of ['bob', 'carol']) await a.waitFor((e) => e['event'] === 'member-joined' && e['nick'] === nick, `alice sees ${nick}`);

    const after = (p: Proc, n: number, pred: (e: Record<string, unknown>) => boolean, what: string) =>
      p.waitFor((e) => p.events.indexOf(e) >= n && pred(e), what);
    let n = a.events.length;
    a.child.stdin.write('/dm nobody\n');
    assert.equal((await after(a, n, (e) => e['event'] === 'error', 'unknown peer'))['code'], 'NO_SUCH_MEMBER');
    n = a.events.length;
    a.child.stdin.write('/dm\n');
    assert.equal((await after(a, n, (e) => e['event'] === 'error', '/dm alone in the room'))['code'], 'USAGE');

    a.child.stdin.write('/dm bob\n');
    await a.waitFor((e) => e['event'] === 'mode' && e['mode'] === 'dm' && e['with'] === 'bob', 'private mode');
    a.child.stdin.write('first secret\nsecond secret\n');
    for (const text of ['first secret', 'second secret'])
      await b.waitFor((e) => e['event'] === 'message' && e['private'] === true && e['text'] === text, `bob reads ${text}`);
    await a.waitFor((e) => e['event'] === 'sent' && e['with'] === 'bob', 'acknowledged');
    // A command still works in private mode.
    n = a.events.length;
    a.child.stdin.write('/help\n');
    const help = await after(a, n, (e) => e['event'] === 'help', 'help event');
    const commands = help['commands'] as { name: string; usage: string; summary: string }[];
    assert.deepEqual(
      commands.map((x) => x.name),
      COMMANDS.map((x) => x.name),
    );
    assert.ok(commands.some((x) => x.usage === '/dm NICK [TEXT]' && x.summary.length > 0));
    a.child.stdin.write('/room\n');
    await a.waitFor((e) => e['event'] === 'mode' && e['mode'] === 'room', 'back in the room');
    a.child.stdin.write('for everyone\n/dm carol one for carol\n/dm carol\n/dm\nroom again\n');
    for (const p of [b, c]) await p.waitFor((e) => e['event'] === 'message' && e['text'] === 'room again' && !e['private'], 'room again');
    await c.waitFor((e) => e['event'] === 'message' && e['private'] === true && e['text'] === 'one for carol', 'carol reads hers');
    assert.equal(a.events.filter((e) => e['event'] === 'mode').length, 4);
    // Nobody else read the private lines; carol never got bob's.
    assert.ok(!c.events.some((e) => e['event'] === 'message' && String(e['text']).includes('secret')));
    assert.ok(
      b.events.some((e) => e['event'] === 'message' && e['text'] === 'for everyone' && !e['private']),
      'the room line after /room',
    );

    // /members: who is you and who is verified.
    a.child.stdin.write('/verified bob\n');
    await a.waitFor((e) => e['event'] === 'verify' && e['verified'] === true, 'bob verified');
    n = a.events.length;
    a.child.stdin.write('/members\n');
    const m = await after(a, n, (e) => e['event'] === 'members', 'members');
    assert.equal(m['you'], 'alice');
    assert.deepEqual(m['verified'], ['bob']);
    assert.deepEqual([...(m['members'] as string[])].sort(), ['alice', 'bob', 'carol']);
    for (const p of procs) p.child.stdin.end();
    for (const p of procs) assert.equal(await p.exited, 0);
  } finally {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGTERM');
    relay.child.kill('SIGTERM');
    await relay.exited;
  }
});

test('Tab completion: command names after /, nicknames after a command that takes one and after @', () => {
  const nicks = ['bob', 'Barbara', 'carol'];
  assert.deepEqual(complete('/me', nicks), [['/members '], '/me']);
  assert.deepEqual(complete('/ver', nicks), [['/verify ', '/verified '], '/ver']);
  assert.equal(complete('/', nicks)[0].length, COMMANDS.length);
  assert.deepEqual(complete('/dm b', nicks), [['bob ', 'Barbara '], 'b']);
  assert.deepEqual(complete('/verify c', nicks), [['carol '], 'c']);
  assert.deepEqual(complete('/close ', nicks), [['bob ', 'Barbara ', 'carol '], '']);
  assert.deepEqual(complete('hello @ca', nicks), [['@carol '], '@ca']);
  assert.deepEqual(complete('@', nicks), [['@bob ', '@Barbara ', '@carol '], '@']);
  // Not after a command that takes no nickname, nor in the middle of a word or a message's text.
  assert.deepEqual(complete('/send b', nicks), [[], '/send b']);
  assert.deepEqual(complete('mail@b', nicks), [[], 'mail@b']);
  assert.deepEqual(complete('hello b', nicks), [[], 'hello b']);
});

test('/members rows, /help columns, the safety number grid and the joined lines', () => {
  const members = humanLine({ event: 'members', members: ['alice', 'bob', 'carolina'], you: 'alice', verified: ['bob'] });
  assert.deepEqual(members.split('\n'), [
    '* 3 member(s):',
    '    alice     (you)',
    '    bob       \u2713 verified',
    '    carolina  not verified',
  ]);
  const help = helpTable(COMMANDS);
  const column = help.map((l) => l.indexOf(COMMANDS[help.indexOf(l)]!.summary));
  assert.ok(
    column.every((c) => c === column[0]),
    'the summaries start in one column',
  );
  const sn = Array.from({ length: 12 }, (_, i) => String(i).padStart(5, '0')).join(' ');
  assert.equal(safetyGrid(sn), '    00000 00001 00002 00003\n    00004 00005 00006 00007\n    00008 00009 00010 00011');
  const v = humanLine({ event: 'verify', nick: 'bob', safetyNumber: sn, verified: false });
  assert.deepEqual(v.split('\n').slice(1), safetyGrid(sn).split('\n'));
  assert.match(v.split('\n')[0]!, /^\* safety number with bob \(not verified; \/verified bob once it matches theirs\):$/);
  const joined = { event: 'joined' as const, nick: 'alice', members: ['alice'], suite: 'default' as const, room: 'lobby' };
  assert.equal(
    humanLine({ ...joined, created: true }),
    '* joined “lobby” as alice. Nobody is here yet: you started this room. If you expected people here, check the room name and password.',
  );
  for (const created of [true, false]) {
    const again = humanLine({ ...joined, created, rejoin: true });
    assert.match(again, /^\* reconnected “lobby” as alice; nobody else is here right now$/);
    assert.doesNotMatch(again, /created|started/);
  }
  assert.equal(
    humanLine({ ...joined, created: false, members: ['alice', 'bob'] }),
    '* you joined “lobby” as alice; 2 member(s): alice, bob',
  );
  assert.equal(
    humanLine({ event: 'mode', mode: 'dm', with: 'bob' }),
    '* private mode with bob: what you type goes to bob only; /room to go back',
  );
});
