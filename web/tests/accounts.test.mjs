// Accounts in the browser, on a server where guests create no rooms (`guests_create_rooms =
// false`): a wrong password is refused in the sign-in form, and too many attempts make it wait
// out the server's Retry-After; a guest who opens a room first waits for a moderator; Alice
// signs in, opens it, moderates it and so lets the guest in, and each decodes the other's video;
// the guest's People panel shows Alice signed in (the server vouches) and itself a guest; Alice
// leaves chat and screen sharing to signed-in members, and the guest's Share button goes. Alice
// signs out: a second browser holding her session's cookie is refused at the signalling
// connection, and its page says the sign-in expired and shows it signed out.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join as pathJoin } from 'node:path';
import { artifactsDir, decodesVideoFrom, eventually, join, launchBrowser, newPage, openPrejoin, personRow, startServer, state, submitSignIn, waitEncrypted } from './support.mjs';

const ALICE_PASSWORD = 'amber orbit tulip lantern 42';
let server;
let browser;
before(async () => {
  server = await startServer([], { config: '[accounts]\nguests_create_rooms = false\n', accounts: { alice: ALICE_PASSWORD } });
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); await server?.stop(); });

/** What `GET /api/session` answers the page: the account signed in, or the error code. */
function session(page) {
  return page.evaluate(async () => {
    const body = await (await fetch('/api/session')).json();
    return body.username ?? body.error;
  });
}

test('a guest waits for a signed-in moderator, who limits what guests may do', { timeout: 60000 }, async () => {
  const room = 'accounts-test';
  const [alice, guest] = await Promise.all(['Alice', 'Visitor'].map((name) => newPage(browser, name)));

  // A wrong password: the form says so, and the page stays signed out.
  await submitSignIn(alice, server.url, 'alice', 'not the password of alice');
  await alice.getByTestId('sign-in-error').filter({ hasText: 'wrong' }).waitFor();
  assert.equal(await alice.getByTestId('account').getAttribute('data-state'), 'signed-out');
  assert.equal(await session(alice), 'signed_out');
  await alice.screenshot({ path: pathJoin(artifactsDir, 'accounts-sign-in-refused.png') });

  // Guessing: after five wrong passwords for one account name the server asks to wait, and the
  // form counts down without letting anyone try meanwhile.
  await guest.goto(server.url);
  await guest.evaluate(async () => {
    for (let i = 0; i < 5; i++) {
      await fetch('/api/session', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'mallory', password: `guess number ${i}` }) });
    }
  });
  await submitSignIn(guest, server.url, 'mallory', 'guess number 5');
  await guest.getByTestId('sign-in-error').filter({ hasText: /^Too many sign-in attempts\. Try again in \d+ s\.$/ }).waitFor();
  assert.equal(await guest.getByTestId('sign-in-submit').isDisabled(), true);

  // The guest comes first: only a member may open the room, so it waits for one.
  await join(guest, server.url, room, 'Visitor', { until: 'lobby-waiting' });
  assert.equal(await guest.getByTestId('lobby-waiting').getAttribute('data-wait'), 'moderator');

  // Alice signs in and joins: the first member moderates, and the guest is let in.
  await alice.getByTestId('sign-in-password').fill(ALICE_PASSWORD);
  await alice.getByTestId('sign-in-submit').click();
  await alice.getByTestId('signed-in-as').filter({ hasText: 'Signed in as alice' }).waitFor();
  assert.equal(await session(alice), 'alice');
  await alice.screenshot({ path: pathJoin(artifactsDir, 'accounts-signed-in.png') });
  await join(alice, server.url, room, 'Alice');
  await Promise.all([waitEncrypted(alice), waitEncrypted(guest)]);
  await Promise.all([decodesVideoFrom(alice, 'Visitor'), decodesVideoFrom(guest, 'Alice')]);
  const [a, g] = await Promise.all([state(alice), state(guest)]);
  assert.deepEqual([a.role, a.account], ['moderator', 'alice']);
  assert.deepEqual([g.role, g.account], ['guest', null]);

  // The guest's People panel: Alice moderates, signed in as alice; the guest is a guest.
  await guest.getByTestId('people-button').click();
  const aliceRow = personRow(guest, 'Alice');
  assert.equal(await aliceRow.getByTestId('account-badge').textContent(), 'signed in as alice');
  await aliceRow.getByTestId('moderator-badge').waitFor();
  await personRow(guest, 'Visitor').getByTestId('guest-badge').waitFor();
  assert.equal(await personRow(guest, 'Visitor').getByTestId('account-badge').count(), 0);
  await guest.screenshot({ path: pathJoin(artifactsDir, 'accounts-guest-roster.png') });

  // Alice leaves screen sharing to signed-in members: the guest's Share button goes, hers
  // stays. (The card offers every permission the protocol has.)
  await alice.getByTestId('people-button').click();
  for (const permission of ['screen_share', 'chat', 'files', 'recording', 'polls']) await alice.getByTestId(`permission-${permission}`).waitFor();
  await alice.getByTestId('permission-screen_share').selectOption('members');
  await guest.getByTestId('screenshare-button').waitFor({ state: 'hidden' });
  assert.deepEqual((await state(guest)).roomSettings.permissions, { screen_share: 'members', chat: 'everyone', files: 'everyone', recording: 'everyone', polls: 'everyone' });
  assert.equal(await alice.getByTestId('screenshare-button').isVisible(), true, 'members still share');

  // A second browser holds Alice's session cookie, ready to join; then she signs out on the
  // home page, which ends that session everywhere.
  const laptop = await newPage(browser, 'Alice (laptop)');
  await laptop.context().addCookies(await alice.context().cookies());
  await openPrejoin(laptop, server.url, room, 'Alice');
  await laptop.getByTestId('prejoin-account').filter({ hasText: 'Signed in as alice' }).waitFor();
  await alice.goto(server.url);
  await alice.getByTestId('sign-out-button').click();
  await alice.getByTestId('sign-in-button').waitFor();
  assert.equal(await session(alice), 'signed_out');

  // The server refuses the stale cookie before the signalling connection opens: the page says
  // the sign-in expired, shows itself signed out, and has dropped the cookie.
  await laptop.getByTestId('join-button').click();
  await laptop.getByTestId('join-error').filter({ hasText: 'sign-in has expired' }).waitFor({ timeout: 10000 });
  assert.equal(await laptop.getByTestId('prejoin-account').getAttribute('data-state'), 'signed-out');
  assert.equal(await laptop.getByTestId('join-button').textContent(), 'Join as a guest');
  assert.equal(await session(laptop), 'signed_out');
  await laptop.screenshot({ path: pathJoin(artifactsDir, 'accounts-sign-in-expired.png') });
});
