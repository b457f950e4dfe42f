// Moderation in the browser: the room's creator (Alice) is its moderator and gets the controls, a
// participant (Bob) does not; a locked room and a password room refuse Carol on the pre-join
// screen until she gives the password; a kick ends Carol's meeting for good (no reconnect) and
// rekeys the others. Saves the moderator's People panel and the removed screen into
// web/test-artifacts/.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join as pathJoin } from 'node:path';
import { artifactsDir, eventually, join, launchBrowser, newPage, personRow, roomLinkSecret, securityCode, startServer, state, waitEncrypted } from './support.mjs';

let server;
let browser;
before(async () => { server = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await server?.stop(); });

const PASSWORD = 'amber-orbit-quiet-7319';

/** Clicks Join on the pre-join screen and waits for the attempt's answer: the meeting, or an error. */
async function tryJoin(page) {
  await page.waitForFunction(() => !document.querySelector('[data-testid="join-button"]')?.disabled, null, { timeout: 15000 });
  await page.getByTestId('join-button').click();
  await page.waitForFunction(() => {
    if (document.querySelector('[data-testid="e2ee-status"]')) return true;
    const button = document.querySelector('[data-testid="join-button"]');
    const error = document.querySelector('[data-testid="join-error"]');
    return button?.textContent !== 'Joining…' && error && !error.hidden;
  }, null, { timeout: 15000 });
  const joined = (await page.getByTestId('e2ee-status').count()) > 0;
  return joined ? null : page.getByTestId('join-error').textContent();
}

test('moderators lock, set a password and kick; participants cannot', { timeout: 60000 }, async () => {
  const room = 'moderation-test';
  const [alice, bob, carol] = await Promise.all(['Alice', 'Bob', 'Carol'].map((name) => newPage(browser, name)));
  await join(alice, server.url, room, 'Alice');
  await waitEncrypted(alice);
  await join(bob, server.url, room, 'Bob');
  await Promise.all([waitEncrypted(alice), waitEncrypted(bob)]);

  // Roles: the creator moderates. Bob's People panel has no moderation controls.
  assert.equal((await state(alice)).role, 'moderator');
  assert.equal((await state(bob)).role, 'guest', 'Bob did not sign in');
  await alice.getByTestId('people-button').click();
  await bob.getByTestId('people-button').click();
  await personRow(bob, 'Alice').waitFor();
  await personRow(alice, 'Bob').getByTestId('kick-button').waitFor();
  for (const testid of ['kick-button', 'ban-button', 'grant-moderator-button', 'lock-button', 'set-password-button',
    'mute-participant-button', 'lobby-toggle', 'permission-screen_share', 'end-meeting-button']) {
    assert.equal(await bob.getByTestId(testid).count(), 0, `Bob sees no ${testid}`);
  }
  assert.equal(await personRow(alice, 'Alice').getByTestId('kick-button').count(), 0, 'no kick button on the own row');

  // Locked: Carol is refused on the pre-join screen, and asked for a password.
  await alice.getByTestId('lock-button').click();
  await Promise.all([alice, bob].map((p) => p.getByTestId('room-locked').waitFor()));
  await carol.goto(`${server.url}/${room}#k=${roomLinkSecret(room)}`);
  await carol.getByTestId('display-name-input').fill('Carol');
  assert.match(await tryJoin(carol), /locked or needs a password/);
  await carol.getByTestId('password-input').waitFor();
  await carol.screenshot({ path: pathJoin(artifactsDir, 'moderation-prejoin-refused.png') });

  // Unlocked, with a password: a weak one is refused in the dialog, a good one set.
  await alice.getByTestId('lock-button').click();
  await Promise.all([alice, bob].map((p) => p.getByTestId('room-locked').waitFor({ state: 'hidden' })));
  await alice.getByTestId('set-password-button').click();
  await alice.getByTestId('room-password-input').fill('short');
  await alice.getByTestId('save-password-button').click();
  await alice.getByTestId('set-password-error').waitFor();
  await alice.screenshot({ path: pathJoin(artifactsDir, 'moderation-set-password.png') });
  assert.match(await alice.getByTestId('set-password-error').textContent(), /at least \d+ characters/);
  await alice.getByTestId('room-password-input').fill(PASSWORD);
  await alice.getByTestId('save-password-button').click();
  await alice.getByTestId('room-password-input').waitFor({ state: 'hidden' });
  await Promise.all([alice, bob].map((p) => p.getByTestId('room-password-badge').waitFor()));

  // Carol: no password, a wrong one (the same answer), then the right one.
  assert.match(await tryJoin(carol), /locked or needs a password/);
  await carol.getByTestId('password-input').fill('not-the-password-42');
  assert.match(await tryJoin(carol), /locked or needs a password/);
  await carol.getByTestId('password-input').fill(PASSWORD);
  assert.equal(await tryJoin(carol), null, 'Carol gets in with the password');
  await waitEncrypted(carol);
  const shared = await eventually('one code for all three', async () => {
    const codes = await Promise.all([alice, bob, carol].map(securityCode));
    return codes[0] && new Set(codes).size === 1 && (await state(alice)).roster.length === 3 ? codes[0] : null;
  });

  await personRow(alice, 'Carol').getByTestId('kick-button').waitFor();
  await alice.locator('[data-testid="participant-tile"][data-name="Carol"].video-on').waitFor({ timeout: 15000 });
  await alice.waitForTimeout(300);
  await alice.screenshot({ path: pathJoin(artifactsDir, 'moderation-people-panel.png') });

  // Kick: Carol's meeting ends for good; Alice and Bob rekey without her.
  await personRow(alice, 'Carol').getByTestId('kick-button').click();
  await carol.getByTestId('removed-screen').waitFor({ timeout: 10000 });
  assert.match(await carol.getByTestId('removed-screen').textContent(), /removed from the meeting by a moderator/);
  await eventually('a new shared code without Carol', async () => {
    const [a, b] = await Promise.all([securityCode(alice), securityCode(bob)]);
    return a && a === b && a !== shared;
  }, { timeout: 20000 });
  for (const page of [alice, bob]) {
    assert.deepEqual((await state(page)).roster.map((m) => m.name).sort(), ['Alice', 'Bob']);
    await personRow(page, 'Carol').waitFor({ state: 'detached' });
    await eventually('one remote tile left', async () => (await page.$$('[data-testid="participant-tile"][data-self="false"]')).length === 1);
  }
  await carol.screenshot({ path: pathJoin(artifactsDir, 'moderation-removed.png') });
  // No reconnect: Carol stays out, her camera and microphone are stopped.
  await carol.waitForTimeout(2500);
  const after = await carol.evaluate(() => {
    const m = window.sealroomDebug.meeting;
    return { connection: m.connection, reason: m.removedReason, tracks: [m.local.audio, m.local.video].filter(Boolean).map((t) => t.readyState) };
  });
  assert.equal(after.connection, 'removed');
  assert.equal(after.reason, 'kicked');
  assert.ok(after.tracks.every((t) => t === 'ended'), `Carol's tracks stopped: ${after.tracks}`);
  assert.deepEqual((await state(alice)).remotes.map((r) => r.name), ['Bob'], 'Carol did not come back');
});
