// End-to-end encrypted chat between Chromium pages: messages to everyone and a private one that
// a third member's own key fails to open; markup in a message stays text (and the page's CSP
// guard stays clean); a dropped connection and a reload lose nothing and show nothing twice;
// with chat left to moderators, a participant's composer is hidden and a forced message refused.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { join as pathJoin } from 'node:path';
import { artifactsDir, closePages, eventually, join, launchBrowser, startServer, state, waitEncrypted, meet as meetIn } from './support.mjs';

let server;
let browser;
before(async () => { server = await startServer(); browser = await launchBrowser(); });
afterEach(closePages);
after(async () => { await browser?.close(); await server?.stop(); });

function meet(room, names) {
  return meetIn(browser, server.url, room, names);
}

async function openChat(page) {
  await page.getByTestId('chat-button').click();
  await page.getByTestId('chat-log').waitFor();
}

/** Sends from the open chat panel, to `to` (a member's name) or everyone. */
async function send(page, text, to = null) {
  const recipient = page.getByTestId('chat-recipient');
  if (to) await recipient.selectOption({ label: `${to} (private)` });
  else await recipient.selectOption({ label: 'Everyone' });
  await page.getByTestId('chat-input').fill(text);
  await page.getByTestId('chat-send').click();
}

/** The texts of the messages the page's chat panel shows. */
function shownTexts(page) {
  return page.getByTestId('chat-message').locator('.chat-text').allTextContents();
}

async function waitForText(page, text) {
  await page.getByTestId('chat-message').filter({ hasText: text }).first().waitFor({ timeout: 15000 });
}

const MARKUP = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> read https://example.com/notes?id=7.';

test('chat among three pages, a private message only its recipient opens', { timeout: 90000 }, async () => {
  const [alice, bob, carol] = await meet('chat-three', ['Alice', 'Bob', 'Carol']);
  await openChat(alice);
  await send(alice, MARKUP);
  await bob.getByTestId('chat-unread').filter({ hasText: '1' }).waitFor({ timeout: 15000 });
  assert.match(await bob.getByTestId('chat-button').getAttribute('aria-label'), /1 unread/);

  for (const page of [bob, carol]) {
    await openChat(page);
    await waitForText(page, 'read https://example.com');
    assert.deepEqual(await shownTexts(page), [MARKUP], 'the markup shown as text, exactly');
    const message = page.getByTestId('chat-message').first();
    assert.equal(await message.locator('.chat-from').textContent(), 'Alice');
    assert.equal(await message.locator('img, script').count(), 0);
    const link = message.locator('a');
    assert.equal(await link.getAttribute('href'), 'https://example.com/notes?id=7');
    assert.match(await link.getAttribute('rel'), /noreferrer/);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
  }
  await bob.getByTestId('chat-unread').waitFor({ state: 'hidden' });

  await send(alice, 'for Bob alone', 'Bob');
  await waitForText(bob, 'for Bob alone');
  const privateLine = bob.getByTestId('chat-message').filter({ hasText: 'for Bob alone' });
  assert.equal(await privateLine.getAttribute('data-private'), 'true');
  // Carol's core decrypted the group's message and tried her own key on what it carried.
  await eventually('Carol failed to open the private message', async () => (await state(carol)).privateMessagesNotForUs === 1);
  assert.deepEqual(await shownTexts(carol), [MARKUP]);
  assert.ok((await state(carol)).chat.every((line) => !line.text.includes('for Bob alone')));
  await bob.screenshot({ path: pathJoin(artifactsDir, 'chat-private.png') });

  await send(bob, 'thanks, Alice', 'Alice');
  await waitForText(alice, 'thanks, Alice');
  assert.equal(await alice.getByTestId('chat-message').filter({ hasText: 'You to Bob' }).count(), 1);
  await alice.screenshot({ path: pathJoin(artifactsDir, 'chat-alice.png') });
});

test('a dropped connection and a reload lose no message and show none twice', { timeout: 120000 }, async () => {
  const room = 'chat-return';
  const [alice, bob] = await meet(room, ['Alice', 'Bob']);
  await openChat(alice);
  await openChat(bob);
  await send(alice, 'one');
  await waitForText(bob, 'one');

  // Bob's connection drops; Alice writes meanwhile; Bob's session resumes with it.
  await bob.context().setOffline(true);
  await bob.evaluate(() => window.sealroomDebug.meeting.socket.close());
  await bob.getByTestId('reconnecting-banner').waitFor({ state: 'visible', timeout: 5000 });
  await send(alice, 'two, while Bob was offline');
  await bob.context().setOffline(false);
  await bob.getByTestId('reconnecting-banner').waitFor({ state: 'hidden', timeout: 15000 });
  await waitForText(bob, 'two, while Bob was offline');
  await send(bob, 'three, from Bob');
  await waitForText(alice, 'three, from Bob');

  // Bob's tab leaves the meeting; Alice writes to a group his next device is not in yet.
  await bob.goto('about:blank');
  // His page left the group on its way out: Alice writes once the commit removing him landed
  // (while she holds the server's removal proposal, MLS lets her send nothing).
  await eventually('Bob out of the group', async () => (await state(alice)).roster.length === 1);
  await send(alice, 'four, while Bob was away');
  await join(bob, server.url, room, 'Bob');
  await waitEncrypted(bob);
  await openChat(bob);
  await bob.getByTestId('chat-note').waitFor({ timeout: 15000 });
  assert.match(await bob.getByTestId('chat-note').textContent(), /A message sent while you were away cannot be read/);
  await send(alice, 'five, welcome back');
  await waitForText(bob, 'five, welcome back');
  assert.deepEqual(await shownTexts(bob), ['one', 'two, while Bob was offline', 'three, from Bob', 'five, welcome back']);
  const bobState = await state(bob);
  assert.deepEqual(bobState.errors, []);
  const seqs = bobState.chat.filter((line) => line.seq > 0).map((line) => line.seq);
  assert.equal(new Set(seqs).size, seqs.length, 'no number twice');
});

test('chat left to moderators: hidden for a participant, and refused when forced', { timeout: 60000 }, async () => {
  const [alice, bob] = await meet('chat-permissions', ['Alice', 'Bob']);
  await alice.getByTestId('people-button').click();
  await alice.getByTestId('permission-chat').selectOption('moderators');
  await openChat(bob);
  await bob.getByTestId('chat-read-only').waitFor();
  assert.equal(await bob.getByTestId('chat-compose').isVisible(), false);

  assert.equal(await bob.evaluate(() => window.sealroomDebug.meeting.sendChat('forced', null)), null, 'the page sent it');
  await bob.getByTestId('toast').filter({ hasText: /may not chat/i }).waitFor({ timeout: 10000 });
  await openChat(alice);
  await send(alice, 'moderators still chat');
  await waitForText(bob, 'moderators still chat');
  assert.ok((await state(alice)).chat.every((line) => line.text !== 'forced'), 'the server relayed nothing');
});
