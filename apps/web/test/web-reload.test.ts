/**
 * A reload resumes (issue 13, docs/PROTOCOL.md §4.5): F5 keeps the room, its slot and leaf, the
 * nickname and what the page showed; what was sent while the page was away follows, once each, in
 * order; nobody sees the reloader leave or join. The creator of an invite room is still its
 * creator, not "invited". A private chat open at the reload is back, with its lines, and both
 * sides go on talking in it; one closed before it is shown read-only. What the browser keeps is
 * sealed: its IndexedDB holds no message, room name or nickname in the clear.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { dump, join, joinRoom, open, relayLink, say, screenshot, skip, withRelayAndBrowser } from './_browser.js';

const ROOM = 'reload room';
const PASSWORD = 'reload room password 7';

/** The texts of the message lines on screen, in order. */
const texts = (page: Page) => page.getByTestId('messages').locator('li.message .text').allTextContents();

test(
  'a reload resumes the room: history, nickname and slot kept; what was sent meanwhile arrives once, in order; nobody sees a leave or a join; kept sealed',
  { skip },
  () =>
    withRelayAndBrowser([], async (url, browser) => {
      const alice = await join(browser, url, 'alice', ROOM, PASSWORD);
      const bob = await join(browser, url, 'bob', ROOM, PASSWORD);
      await alice.page.getByText('bob joined').waitFor();
      await say(alice.page, 'canary-before-reload');
      await say(bob.page, 'hello alice');
      await alice.page.getByText('hello alice').waitFor();
      await bob.page.getByText('canary-before-reload').waitFor();

      // A private chat with bob: it survives the reload (its MLS group is part of the room's saved session).
      await alice.page.getByRole('button', { name: 'bob', exact: true }).click();
      await alice.page.getByTestId('open-private').click();
      await alice.page.getByRole('heading', { name: /Private chat with bob/ }).waitFor();
      await say(alice.page, 'a private word');
      await bob.page.getByTestId('private-tab').click();
      await bob.page.getByText('a private word').waitFor();
      await bob.page.getByRole('button', { name: /^reload room/ }).click();
      await alice.page.getByRole('button', { name: /^reload room/ }).click();

      // alice reloads; bob writes while her page is away.
      const reloading = alice.page.reload();
      for (let i = 1; i <= 5; i++) await say(bob.page, `while away ${i}`);
      await bob.page.getByTestId('private-tab').click();
      await say(bob.page, 'a private word while you were away');
      await bob.page.getByRole('button', { name: /^reload room/ }).click();
      await reloading;
      await alice.page.getByTestId('restoring').or(alice.page.getByTestId('composer')).first().waitFor();
      await alice.page.getByText('while away 5').waitFor({ timeout: 30_000 });
      await alice.page.getByText('Back after the reload').waitFor();
      assert.deepEqual(await texts(alice.page), [
        'canary-before-reload',
        'hello alice',
        'while away 1',
        'while away 2',
        'while away 3',
        'while away 4',
        'while away 5',
      ]);
      // The same member: her nickname and place, no departure or arrival seen by bob.
      await say(alice.page, 'after the reload');
      await bob.page.getByText('after the reload').waitFor();
      const bobSaw = await bob.page.getByTestId('messages').innerText();
      assert.doesNotMatch(bobSaw, /alice left|alice-2|alice joined.*alice joined/s);
      assert.match(await alice.page.getByTestId('members').innerText(), /alice/);
      assert.doesNotMatch(await alice.page.getByTestId('members').innerText(), /alice-2/);
      await screenshot(alice.page, 'reload-resumed');
      await alice.page.getByTestId('private-tab').click();
      await alice.page.getByText('The private chat with bob is back after the reload').waitFor({ timeout: 30_000 });
      await alice.page.getByText('a private word while you were away').waitFor();
      assert.deepEqual(await texts(alice.page), ['a private word', 'a private word while you were away'], 'its lines, each once');
      await say(alice.page, 'private after the reload');
      await bob.page.getByTestId('private-tab').click();
      await bob.page.getByText('private after the reload').waitFor();
      await say(bob.page, 'private answer');
      await alice.page.getByText('private answer').waitFor();
      assert.equal(await bob.page.getByText('alice closed the private chat.').count(), 0, 'bob was never told it closed');
      assert.equal(await alice.page.getByText('could not be taken up').count(), 0);

      // Sealed at rest: no text, room name or nickname in the clear anywhere in her IndexedDB.
      const stored = await dump(alice.page);
      for (const canary of ['canary-before-reload', 'hello alice', 'while away', 'private answer', ROOM, PASSWORD, '"alice"', 'bob'])
        assert.ok(!stored.includes(canary), `IndexedDB holds "${canary}" in the clear`);
    }),
);

test('the creator of an invite room is still its creator after a reload: the room, its link and name, no "invited" screen', { skip }, () =>
  withRelayAndBrowser([], async (url, browser) => {
    const alice = await open(browser, url);
    await alice.page.getByTestId('nick').fill('alice');
    await alice.page.getByTestId('create-invite').click();
    await alice.page.getByTestId('composer').waitFor({ timeout: 30_000 });
    const link = await alice.page.getByTestId('invite-link').inputValue();
    const bob = await open(browser, link);
    await bob.page.getByTestId('nick').fill('bob');
    await bob.page.getByTestId('join').click();
    await bob.page.getByTestId('composer').waitFor({ timeout: 30_000 });
    await alice.page.getByText('bob joined').waitFor();

    await alice.page.reload();
    await alice.page.getByTestId('composer').waitFor({ timeout: 30_000 });
    assert.equal(await alice.page.getByTestId('invite-link').inputValue(), link, 'the invite link is still offered');
    assert.equal(await alice.page.getByTestId('join').count(), 0, 'no join form: she is in the room');
    await say(bob.page, 'still here?');
    await alice.page.getByText('still here?').waitFor();

    // Leaving for good forgets it: the next reload shows the join screen, with her nickname filled in.
    await alice.page.getByTestId('leave').click();
    await alice.page.getByRole('dialog').getByRole('button', { name: 'Leave' }).click();
    await bob.page.getByText('alice left').waitFor();
    await alice.page.reload();
    await alice.page.getByTestId('nick').waitFor();
    assert.equal(await alice.page.getByTestId('nick').inputValue(), 'alice');
  }),
);

test('a line the relay took but whose acknowledgement the reload cut off is shown once, then sent; everyone has it once', { skip }, () =>
  withRelayAndBrowser([], async (url, browser) => {
    const bob = await join(browser, url, 'bob', ROOM, PASSWORD);
    const alice = await open(browser, url);
    const link = await relayLink(alice.page);
    await joinRoom(alice.page, 'alice', ROOM, PASSWORD);
    await bob.page.getByText('alice joined').waitFor();

    // The relay has the line (bob reads it) but its ACK never reaches alice's page: pending when she reloads.
    link.hold();
    await say(alice.page, 'said just before F5');
    await bob.page.getByText('said just before F5').waitFor();
    const mine = alice.page.getByTestId('messages').locator('li.self', { hasText: 'said just before F5' });
    await mine.and(alice.page.locator('li.pending')).waitFor();
    await alice.page.reload();
    link.release();

    // Back: the line shows once, and the relay's replay of it acknowledges it (it is not sent again).
    await alice.page.getByText('Back after the reload').waitFor({ timeout: 30_000 });
    await mine.and(alice.page.locator('li.sent')).waitFor({ timeout: 30_000 });
    assert.equal(await mine.count(), 1, 'shown once');
    await say(bob.page, 'got it');
    await alice.page.getByText('got it').waitFor();
    assert.equal(await bob.page.getByText('said just before F5').count(), 1, 'bob has it once');
  }),
);

test(
  'a private chat closed before a reload is shown after it read-only: its lines, no message box, nothing sent to the room',
  { skip },
  () =>
    withRelayAndBrowser([], async (url, browser) => {
      const alice = await join(browser, url, 'alice', ROOM, PASSWORD);
      const bob = await join(browser, url, 'bob', ROOM, PASSWORD);
      await alice.page.getByText('bob joined').waitFor();
      await alice.page.getByRole('button', { name: 'bob', exact: true }).click();
      await alice.page.getByTestId('open-private').click();
      await alice.page.getByRole('heading', { name: /Private chat with bob/ }).waitFor();
      await say(alice.page, 'private before closing');
      await bob.page.getByTestId('private-tab').click();
      await bob.page.getByText('private before closing').waitFor();
      await bob.page.getByTestId('private-close').click();
      await alice.page.getByText('bob closed the private chat.').waitFor();
      await bob.page.getByRole('button', { name: /^reload room/ }).click();
      await alice.page.waitForTimeout(1500); // the page writes what changed a moment later (history 500 ms, session 250 ms)

      await alice.page.reload();
      await alice.page.getByText('Back after the reload').waitFor({ timeout: 30_000 });
      await alice.page.getByTestId('private-tab').click();
      await alice.page.getByText('private before closing').waitFor();
      await alice.page.getByText('bob closed the private chat.').waitFor();
      await alice.page.getByTestId('composer-blocked').getByText('This private chat is closed').waitFor();
      assert.equal(await alice.page.getByTestId('composer').count(), 0, 'no message box');
      assert.equal(await alice.page.getByTestId('typing').count(), 0, "no typing line (not the room's)");
      assert.equal(await alice.page.getByTestId('private-close').count(), 0);
      await screenshot(alice.page, 'reload-private-read-only');
      // No replies, reactions, edits or deletes offered (they went to the room before).
      await alice.page.getByText('private before closing').hover();
      assert.equal(await alice.page.getByTestId('message-tools').count(), 0, 'no message actions');
      await say(bob.page, 'room still works');
      await alice.page.getByRole('button', { name: /^reload room/ }).click();
      await alice.page.getByText('room still works').waitFor();
    }),
);
