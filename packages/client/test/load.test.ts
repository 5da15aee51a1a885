import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { GONE_AT_ONCE, converged, member, randomRoomSecret, relay, until, type TestClient, closeAll } from './_harness.js';

afterEach(closeAll);

test('under load: 16 concurrent joins, then 6 departures (3 killed), while messages flow; all converge, nothing acknowledged is lost', async (t) => {
  const r = await relay({ limits: GONE_AT_ONCE });
  t.after(() => r.close());
  const secret = randomRoomSecret();
  const talker = await member(r.url, secret, 'talker');
  let sent = 0;
  let talking = true;
  const ids: string[] = [];
  const loop = (async () => {
    while (talking) {
      ids.push(talker.room.send(`msg ${sent++}`));
      await new Promise((res) => setTimeout(res, 15));
    }
  })();
  const joiners = await Promise.all(Array.from({ length: 16 }, (_, i) => member(r.url, secret, `j${i}`)));
  const all: TestClient[] = [talker, ...joiners];
  await until(
    () =>
      converged(
        all,
        all.map((c) => c.room.nick),
      ),
    '17 members converge',
    30_000,
  );
  const leaving = joiners.slice(0, 6);
  await Promise.all(
    leaving.map(async (c, i) => {
      if (i < 3) return c.client.close();
      (c.client as unknown as { opts: { reconnect: boolean } }).opts.reconnect = false;
      (c.socket() as unknown as { terminate(): void }).terminate();
    }),
  );
  const staying = [talker, ...joiners.slice(6)];
  await until(
    () =>
      converged(
        staying,
        staying.map((c) => c.room.nick),
      ),
    'the 11 who stay converge',
    30_000,
  );
  talking = false;
  await loop;
  await talker.room.flush();
  const last = `msg ${sent - 1}`;
  // Every member that stayed reads the talker's messages from its join on, in order, without gaps.
  for (const c of staying.slice(1)) {
    // Eleven receivers decrypt in this one process: a loaded machine takes a while to catch up (a correctness test, not a timing one).
    await until(() => c.messages.some((m) => m.text === last), `${c.room.nick} reads the last message`, 60_000);
    const nums = c.messages.map((m) => Number(m.text.slice(4)));
    const gaps = nums.flatMap((n, i) => (i > 0 && n !== nums[i - 1]! + 1 ? [`${nums[i - 1]}->${n}`] : []));
    assert.deepEqual(gaps, [], `${c.room.nick} got a gap-free run`);
    assert.equal(c.events.filter((e) => e.type === 'error').length, 0);
  }
  await Promise.all(staying.map((c) => c.client.close()));
});
