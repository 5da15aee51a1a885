/**
 * The interactive terminal client, on a real pseudo-terminal (util-linux `script`): the password
 * prompt does not echo, and chat, /members and /quit work as a person would use them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { BIN, keyDir, run, serveProc } from './_spawn.js';

const hasScript = spawnSync('script', ['--version']).status === 0;

test('interactive chat on a TTY: silent password prompt, messages both ways with their delivery state, Tab completion, private mode, /members, /help, /quit', {
  skip: hasScript ? false : 'util-linux `script` is not installed',
}, async () => {
  const { proc: relay, url } = await serveProc();
  const password = 'tty-secret-password-91';
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm', NULLROOM_KEY_DIR: keyDir() };
    delete env['NULLROOM_PASSWORD'];
    const tty = spawn('script', ['-qfec', `${process.execPath} ${BIN} chat ${url} --room ttyroom --nick alice`, '/dev/null'], {
      env,
      stdio: 'pipe',
    });
    let screen = '';
    tty.stdout.on('data', (d: Buffer) => (screen += d.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => tty.on('exit', resolve));
    const see = async (text: string, ms = 15_000) => {
      const start = Date.now();
      while (!screen.includes(text)) {
        if (Date.now() - start > ms)
          throw new Error(`the terminal never showed ${JSON.stringify(text)}; it shows: ${JSON.stringify(screen.slice(-400))}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    await see('room password:');
    tty.stdin.write(`${password}\r`);
    await see('Nobody is here yet: you started this room.');
    const bob = run(['chat', url, '--room', 'ttyroom', '--nick', 'bob', '--json'], { NULLROOM_PASSWORD: password });
    await bob.waitFor((e) => e['event'] === 'joined', 'bob joined');
    await see('* bob joined');
    tty.stdin.write('hello from a real terminal\r');
    await bob.waitFor(
      (e) => e['event'] === 'message' && e['text'] === 'hello from a real terminal' && e['from'] === 'alice',
      'bob reads alice',
    );
    // Our line shows its delivery state: pending, then sent (the relay acknowledged it), redrawn in place.
    await see('<alice> hello from a real terminal (sending)');
    await see('<alice> hello from a real terminal \u2713');
    bob.child.stdin.write('hi alice\n');
    await see('<bob> hi alice');
    // A private message too: pending, then sent, with its peer named.
    tty.stdin.write('/dm bob just for you\r');
    await bob.waitFor((e) => e['event'] === 'message' && e['private'] === true && e['text'] === 'just for you', 'bob reads it privately');
    await see('(private to bob) <alice> just for you (sending)');
    await see('(private to bob) <alice> just for you \u2713');
    // Tab completes a nickname; /dm NICK alone is private mode, shown in the prompt, until /room.
    tty.stdin.write('/dm b\t');
    await see('/dm bob ');
    tty.stdin.write('\r');
    await see('[dm bob]> ');
    tty.stdin.write('only bob reads this\r');
    await bob.waitFor((e) => e['event'] === 'message' && e['private'] === true && e['text'] === 'only bob reads this', 'private mode');
    tty.stdin.write('/room\r');
    await see('* back in the room');
    tty.stdin.write('/mem\t\r');
    await see('2 member(s):');
    await see('alice  (you)');
    await see('bob    not verified');
    // /help is made from the command table.
    tty.stdin.write('/help\r');
    await see('/dmsend NICK PATH...');
    await see('/help ');
    tty.stdin.write('/quit\r');
    assert.equal(await exited, 0);
    assert.ok(!screen.includes(password), 'the password was echoed');
    await bob.waitFor((e) => e['event'] === 'member-left' && e['nick'] === 'alice', 'bob sees alice leave');
    bob.child.stdin.end();
    assert.equal(await bob.exited, 0);
  } finally {
    relay.child.kill('SIGTERM');
    await relay.exited;
  }
});
