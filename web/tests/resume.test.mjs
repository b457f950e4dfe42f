// Resuming a session: Bob's signalling connection drops and stays down while Alice, a
// moderator, mutes him and commits a new epoch, and Bob, a moderator too, locks the room. When
// Bob's network is back he resumes the same session and the server replays what he missed:
// each message handled exactly once (one mute notice, one epoch step with no MLS error from a
// repeated or missing commit), and his lock, held back while he was away, goes out after it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eventually, join, launchBrowser, newPage, personRow, startServer, state, waitEncrypted } from './support.mjs';

let server;
let browser;
before(async () => { server = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await server?.stop(); });

/** Alice, then Bob, join `room` and reach one security code; returns both pages and Bob's
 *  state at that point. */
async function aliceAndBobMeet(room) {
  const alice = await newPage(browser, 'alice');
  const bob = await newPage(browser, 'bob');
  await join(alice, server.url, room, 'Alice');
  await waitEncrypted(alice);
  await join(bob, server.url, room, 'Bob');
  await Promise.all([waitEncrypted(alice), waitEncrypted(bob)]);
  const bobState = await eventually('one code for both', async () => {
    const [a, b] = await Promise.all([state(alice), state(bob)]);
    return a.code && a.code.digits === b.code?.digits && a.roster.length === 2 ? b : null;
  });
  return { alice, bob, bobState };
}

test('what is sent while a participant is away reaches it once, after the resume', { timeout: 60000 }, async () => {
  const { alice, bob } = await aliceAndBobMeet('resume-test');
  await alice.getByTestId('people-button').click();
  await personRow(alice, 'Bob').getByTestId('grant-moderator-button').click();
  await eventually('Bob a moderator', async () => (await state(bob)).role === 'moderator');
  await bob.getByTestId('people-button').click();
  await bob.getByTestId('lock-button').waitFor();
  const before = await state(bob);
  // Every notice Bob's page shows (the toast), counted.
  await bob.evaluate(() => {
    const meeting = window.sealroomDebug.meeting;
    const toast = meeting.onNotice;
    window.notices = [];
    meeting.onNotice = (text) => { window.notices.push(text); toast(text); };
  });

  // Bob's network goes, and his connection with it: his resume attempts fail until it is back.
  await bob.context().setOffline(true);
  await bob.evaluate(() => window.sealroomDebug.meeting.socket.close());
  await bob.getByTestId('reconnecting-banner').waitFor({ state: 'visible', timeout: 5000 });
  // Meanwhile Bob locks the room (held back until he is back), Alice mutes him and commits.
  await bob.getByTestId('lock-button').click();
  await personRow(alice, 'Bob').getByTestId('mute-participant-button').click();
  await eventually('the server lists Bob as muted', async () => (await state(alice)).roster.length === 2
    && (await alice.evaluate(() => window.sealroomDebug.meeting.serverParticipants.find((p) => p.display_name === 'Bob')?.muted === true)));
  await alice.evaluate(() => window.sealroomDebug.meeting.selfUpdate());
  await eventually('Alice in the next epoch', async () => (await state(alice)).epoch === before.epoch + 1);
  await bob.waitForTimeout(1500);
  const away = await state(bob);
  assert.equal(away.connection, 'reconnecting');
  assert.equal(away.epoch, before.epoch, 'Bob has not seen the commit yet');
  assert.equal(away.mutedByModerator, false, 'nor the mute');
  assert.equal((await state(alice)).roomSettings.locked, false, 'Bob\'s lock waits for his connection');

  await bob.context().setOffline(false);
  await bob.getByTestId('reconnecting-banner').waitFor({ state: 'hidden', timeout: 15000 });
  await bob.getByTestId('muted-by-moderator').waitFor({ timeout: 5000 });
  const [a, b] = await Promise.all([state(alice), state(bob)]);
  assert.equal(b.resumes, 1);
  assert.equal(b.participantId, before.participantId);
  assert.equal(b.ownLeaf, before.ownLeaf);
  assert.equal(b.epoch, before.epoch + 1, 'the missed commit, once');
  assert.equal(b.code.digits, a.code.digits);
  assert.equal(b.roster.length, 2);
  assert.deepEqual(b.errors, [], 'no MLS error: no commit processed twice or skipped');
  assert.deepEqual(await bob.evaluate(() => window.notices), ['A moderator muted you. Unmute when you want to speak.'], 'the mute, once');
  await waitEncrypted(bob);
  await eventually('Bob\'s lock went out after the resume', async () => (await state(alice)).roomSettings.locked);
  await bob.getByTestId('room-locked').waitFor();
});

test('a commit lost with the connection is sent again after the resume', { timeout: 60000 }, async () => {
  const { alice, bob, bobState: before } = await aliceAndBobMeet('resume-lost-commit-test');

  // Bob commits a self-update into a connection that is already dead (the frame never leaves),
  // and the connection then drops: no answer can come for it, not even in the replay.
  await bob.evaluate(() => {
    const meeting = window.sealroomDebug.meeting;
    meeting.socket.send = () => {};
    meeting.selfUpdate();
    meeting.socket.close();
  });
  await eventually('Bob resumed', async () => (await state(bob)).resumes === 1, { timeout: 15000 });
  await eventually('both in the epoch of Bob\'s commit, sent again', async () => {
    const [a, b] = await Promise.all([state(alice), state(bob)]);
    return (a.epoch === before.epoch + 1 && b.epoch === before.epoch + 1 && a.code.digits === b.code.digits) || { ok: false, alice: a.epoch, bob: b.epoch };
  }, { timeout: 15000 });
  const b = await state(bob);
  assert.equal(b.ownLeaf, before.ownLeaf);
  assert.deepEqual(b.errors, []);
  assert.deepEqual((await state(alice)).errors, []);
  await Promise.all([waitEncrypted(alice), waitEncrypted(bob)]);
});
