// A moderator's controls over what others send: with screen sharing left to moderators, a
// participant's Share button is hidden and a share forced anyway is refused by the server (a
// `forbidden` toast; the SFU forwards none of it); a moderator's mute stops the participant's
// audio at the SFU until the participant unmutes itself; ending the meeting ends it for all.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join as pathJoin } from 'node:path';
import { artifactsDir, eventually, inbound, join, launchBrowser, newPage, personRow, startServer, state, waitEncrypted } from './support.mjs';

let server;
let browser;
before(async () => { server = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await server?.stop(); });

/** Alice (moderator) and Bob, both encrypted, Alice's People panel open. */
async function meet(room) {
  const [alice, bob] = await Promise.all(['Alice', 'Bob'].map((name) => newPage(browser, name)));
  await join(alice, server.url, room, 'Alice');
  await join(bob, server.url, room, 'Bob');
  await Promise.all([waitEncrypted(alice), waitEncrypted(bob)]);
  await alice.getByTestId('people-button').click();
  await personRow(alice, 'Bob').getByTestId('mute-participant-button').waitFor();
  return { alice, bob };
}

/** Inbound stats of one of `name`'s tracks at `page` (`audio`, `camera` or `screen`). */
async function trackStats(page, name, role) {
  const remote = (await state(page)).remotes.find((r) => r.name === name);
  const mid = remote?.mids[role];
  return mid ? (await inbound(page))[mid] ?? null : null;
}

test('screen sharing left to moderators: hidden, and refused when forced', { timeout: 45000 }, async () => {
  const { alice, bob } = await meet('permissions-test');
  await bob.getByTestId('screenshare-button').waitFor();

  await alice.getByTestId('permission-screen_share').selectOption('moderators');
  await bob.getByTestId('screenshare-button').waitFor({ state: 'hidden' });
  assert.equal((await state(bob)).roomSettings.permissions.screen_share, 'moderators');
  assert.equal(await alice.getByTestId('screenshare-button').isVisible(), true, 'moderators still share');

  // Forced past the hidden button: the SFU drops it and the server says why.
  await bob.evaluate(() => window.sealroomDebug.meeting.startScreenShare());
  await bob.getByTestId('toast').filter({ hasText: /screen sharing is not allowed/i }).waitFor({ timeout: 10000 });
  await eventually('Bob stopped sharing after the refusal', async () => !(await bob.evaluate(() => window.sealroomDebug.meeting.screen)));
  await alice.waitForTimeout(1500);
  const screen = await trackStats(alice, 'Bob', 'screen');
  assert.ok(!screen || (screen.packetsReceived === 0 && screen.framesDecoded === 0), `Alice got no screen from Bob: ${JSON.stringify(screen)}`);
  assert.equal(await alice.locator('[data-testid="screenshare-tile"]').count(), 0);
  assert.equal((await state(alice)).remotes.find((r) => r.name === 'Bob').screenLive, false);
});

test('a moderator mutes a participant, who unmutes; then ends the meeting for all', { timeout: 45000 }, async () => {
  const { alice, bob } = await meet('mute-test');
  const audio = () => trackStats(alice, 'Bob', 'audio');
  await eventually('Alice hears Bob', async () => ((await audio())?.totalAudioEnergy ?? 0) > 0);

  await personRow(alice, 'Bob').getByTestId('mute-participant-button').click();
  await bob.getByTestId('muted-by-moderator').waitFor({ timeout: 5000 });
  assert.match(await bob.getByTestId('mute-button').getAttribute('aria-label'), /a moderator muted you/);
  assert.equal(await bob.evaluate(() => window.sealroomDebug.meeting.local.audio.enabled), false, 'the microphone is off here too');
  await personRow(alice, 'Bob').getByTestId('muted-badge').waitFor();
  await alice.screenshot({ path: pathJoin(artifactsDir, 'room-controls-muted.png') });
  await bob.screenshot({ path: pathJoin(artifactsDir, 'room-controls-muted-self.png') });
  // The SFU forwards nothing of Bob's audio any more.
  await alice.waitForTimeout(500);
  const muted = await audio();
  await alice.waitForTimeout(1500);
  const stillMuted = await audio();
  assert.equal(stillMuted.packetsReceived, muted.packetsReceived, 'no audio packets from Bob while muted');

  // Bob unmutes himself: his audio is forwarded, and heard, again.
  await bob.getByTestId('mute-button').click();
  await bob.getByTestId('muted-by-moderator').waitFor({ state: 'hidden' });
  await personRow(alice, 'Bob').getByTestId('muted-badge').waitFor({ state: 'detached' });
  await eventually('Bob is heard again', async () => {
    const now = await audio();
    return (now.packetsReceived > stillMuted.packetsReceived + 20 && now.totalAudioEnergy > stillMuted.totalAudioEnergy) || { ok: false, now, stillMuted };
  }, { timeout: 10000 });

  // Alice ends the meeting for everyone (after a confirmation): both get a final screen.
  await alice.getByTestId('end-meeting-button').click();
  await alice.getByTestId('confirm-end-meeting-button').click();
  for (const page of [alice, bob]) {
    await page.getByTestId('removed-screen').waitFor({ timeout: 10000 });
    assert.equal(await page.getByTestId('removed-screen').getAttribute('data-reason'), 'meeting_ended');
  }
  assert.match(await bob.getByTestId('removed-screen').textContent(), /The meeting has ended/);
  assert.match(await alice.getByTestId('removed-screen').textContent(), /You ended the meeting for everyone/);
});
