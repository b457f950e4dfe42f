// The lobby in the browser: the moderator (Alice) turns it on; Bob knocks and waits without any
// media, Alice sees his device key and admits him, and her client adds him to the encrypted group
// (one code, video both ways); Carol knocks, a forged request to add her device is refused by
// Alice's client, and Alice denies her: Carol gets a final screen and never enters the group. Saves the waiting screen and the moderator's lobby list into
// web/test-artifacts/.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { join as pathJoin } from 'node:path';
import { artifactsDir, closePages, decodesVideoFrom, eventually, join, launchBrowser, newPage, roomLinkSecret, securityCode, startServer, state, waitEncrypted, wasmCore } from './support.mjs';

let server;
let browser;
before(async () => { server = await startServer(); browser = await launchBrowser(); });
afterEach(closePages);
after(async () => { await browser?.close(); await server?.stop(); });

function lobbyEntry(page, name) {
  return page.locator(`[data-testid="lobby-list"] [data-name="${name}"]`);
}

/** Whether the page ever got media from the SFU: a knocker must not, before it is let in. */
function hasRemoteDescription(page) {
  return page.evaluate(() => window.sealroomDebug.pc()?.remoteDescription != null);
}

test('lobby: a moderator admits one knocker and denies another', { timeout: 60000 }, async () => {
  const room = 'lobby-test';
  const [alice, bob, carol] = await Promise.all(['Alice', 'Bob', 'Carol'].map((name) => newPage(browser, name)));
  await join(alice, server.url, room, 'Alice');
  await waitEncrypted(alice);
  await alice.getByTestId('people-button').click();
  await alice.getByTestId('lobby-toggle').click();
  await alice.locator('[data-testid="lobby-toggle"][aria-pressed="true"]').waitFor();
  await alice.getByTestId('room-lobby-badge').waitFor();

  // Bob knocks: a waiting screen, no media; Alice is told and sees his device key.
  await join(bob, server.url, room, 'Bob', { until: 'lobby-waiting' });
  assert.match(await bob.getByTestId('lobby-waiting').textContent(), /Waiting for a moderator to let you in/);
  assert.equal(await bob.getByTestId('lobby-room-name').textContent(), room);
  await alice.getByTestId('toast').filter({ hasText: 'Bob is waiting in the lobby' }).waitFor({ timeout: 5000 });
  assert.equal(await alice.getByTestId('lobby-badge').textContent(), '1');
  await lobbyEntry(alice, 'Bob').getByTestId('lobby-fingerprint').waitFor();
  const shown = await lobbyEntry(alice, 'Bob').getByTestId('lobby-fingerprint').textContent();
  assert.equal(shown, await bob.getByTestId('own-fingerprint').textContent(), 'the moderator sees the key Bob sees');
  assert.equal(await lobbyEntry(alice, 'Bob').getByTestId('admit-button').isEnabled(), true);
  assert.equal(await lobbyEntry(alice, 'Bob').getByTestId('guest-badge').textContent(), 'Guest', 'the knocker did not sign in');
  assert.equal(await hasRemoteDescription(bob), false, 'no SDP exchange while knocking');
  await bob.screenshot({ path: pathJoin(artifactsDir, 'lobby-waiting.png') });
  await alice.screenshot({ path: pathJoin(artifactsDir, 'lobby-moderator.png') });

  // Admitted: Bob is in the meeting and the group, with video both ways.
  await lobbyEntry(alice, 'Bob').getByTestId('admit-button').click();
  await bob.getByTestId('e2ee-status').waitFor({ timeout: 10000 });
  await Promise.all([waitEncrypted(alice), waitEncrypted(bob)]);
  await eventually('one code for Alice and Bob', async () => {
    const [a, b] = await Promise.all([securityCode(alice), securityCode(bob)]);
    return a && a === b;
  }, { timeout: 15000 });
  for (const [page, other] of [[alice, 'Bob'], [bob, 'Alice']]) {
    await decodesVideoFrom(page, other);
    const s = await state(page);
    assert.deepEqual(s.roster.map((m) => m.name).sort(), ['Alice', 'Bob']);
    assert.deepEqual(s.warnings, [], 'an admitted member raises no warning');
  }
  await lobbyEntry(alice, 'Bob').waitFor({ state: 'detached' });
  assert.equal(await alice.getByTestId('lobby-badge').isHidden(), true);

  // Carol knocks. A server that asks Alice's client to add a device nobody admitted (one of its
  // own, made here with the same wasm core) gets nothing committed, and Alice is warned.
  await join(carol, server.url, room, 'Carol', { until: 'lobby-waiting' });
  const { Device } = await wasmCore();
  const ghostKeyPackage = Buffer.from(new Device('Ghost').keyPackage()).toString('base64');
  const reply = await alice.evaluate((kp) => window.sealroomDebug.meeting.session.onMessage({ type: 'commit_requested', key_packages: [kp] }), ghostKeyPackage);
  assert.deepEqual(reply, [], 'no commit for a device nobody admitted');
  await alice.getByTestId('mls-warning').filter({ hasText: 'asked us to add a device we did not admit' }).waitFor({ timeout: 5000 });

  // Carol is denied: a final screen, never in the group, no reconnect. (Denied once her key is
  // listed: a lobby list the server computed before the denial may otherwise arrive after it.)
  await lobbyEntry(alice, 'Carol').getByTestId('lobby-fingerprint').waitFor();
  await lobbyEntry(alice, 'Carol').getByTestId('deny-button').click();
  await carol.getByTestId('removed-screen').waitFor({ timeout: 10000 });
  assert.equal(await carol.getByTestId('removed-screen').getAttribute('data-reason'), 'denied');
  assert.match(await carol.getByTestId('removed-screen').textContent(), /did not let you in/);
  await carol.screenshot({ path: pathJoin(artifactsDir, 'lobby-denied.png') });
  await eventually('Carol gone from the lobby list', async () => {
    const [s, shown] = await Promise.all([state(alice), lobbyEntry(alice, 'Carol').count()]);
    return (s.lobby.length === 0 && shown === 0) || { ok: false, lobby: s.lobby, shown, connection: s.connection };
  }, { timeout: 10000 });
  await carol.waitForTimeout(1500);
  const out = await carol.evaluate(() => {
    const m = window.sealroomDebug.meeting;
    return { connection: m.connection, reason: m.removedReason, tracks: [m.local.audio, m.local.video].filter(Boolean).map((t) => t.readyState) };
  });
  assert.deepEqual({ connection: out.connection, reason: out.reason }, { connection: 'removed', reason: 'denied' });
  assert.ok(out.tracks.every((t) => t === 'ended'), `Carol's camera and microphone are stopped: ${out.tracks}`);
  for (const page of [alice, bob]) {
    assert.deepEqual((await state(page)).roster.map((m) => m.name).sort(), ['Alice', 'Bob'], 'Carol never joined the group');
  }
});

/** Alice and Bob meet in `room`; Alice turns "wait for a moderator" on (and, with `lobby`, the
 *  lobby), copies the host link and leaves: Bob stays without inheriting moderation, and Carol
 *  joins and waits for a moderator. Returns the pages and the link. */
async function moderatorLeavesWithTheHostLink(room, { lobby = false } = {}) {
  const [alice, bob, carol] = await Promise.all(['Alice', 'Bob', 'Carol'].map((name) => newPage(browser, name)));
  await alice.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  await join(alice, server.url, room, 'Alice');
  await join(bob, server.url, room, 'Bob');
  await Promise.all([waitEncrypted(alice), waitEncrypted(bob)]);

  // Alice turns "wait for a moderator" on and copies the host link, under its warning.
  await alice.getByTestId('people-button').click();
  await alice.getByTestId('wait-for-moderator-toggle').click();
  await alice.locator('[data-testid="wait-for-moderator-toggle"][aria-pressed="true"]').waitFor();
  await eventually('Bob sees the setting', async () => (await state(bob)).roomSettings.waitForModerator);
  if (lobby) {
    await alice.getByTestId('lobby-toggle').click();
    await eventually('Bob sees the lobby', async () => (await state(bob)).roomSettings.lobby);
  }
  assert.match(await alice.getByTestId('host-link-warning').textContent(), /Whoever has the host link is a moderator/);
  await alice.getByTestId('copy-host-link-button').click();
  await alice.getByTestId('toast').filter({ hasText: 'Host link copied' }).waitFor({ timeout: 5000 });
  const link = await alice.evaluate(() => navigator.clipboard.readText());
  assert.match(link, new RegExp(`^${server.url}/${room}#host=[0-9a-f]{32}&k=${roomLinkSecret(room)}$`), 'the key travels in the fragment only, with the room link');
  if (!lobby) await alice.screenshot({ path: pathJoin(artifactsDir, 'host-link-moderator.png') });

  // Alice leaves: Bob stays, and does not inherit moderation; Carol waits for a moderator.
  await alice.getByTestId('leave-button').click();
  await eventually('Bob alone in the group', async () => {
    const s = await state(bob);
    return (s.roster.length === 1 && s.roster[0].name === 'Bob') || { ok: false, roster: s.roster };
  }, { timeout: 15000 });
  assert.equal((await state(bob)).role, 'guest', 'nobody inherits moderation (Bob did not sign in)');
  await join(carol, server.url, room, 'Carol', { until: 'lobby-waiting' });
  assert.equal(await carol.getByTestId('lobby-waiting').getAttribute('data-wait'), 'moderator');
  assert.equal(await carol.getByTestId('lobby-waiting-title').textContent(), 'Waiting for a moderator to start the meeting');
  assert.equal(await hasRemoteDescription(carol), false, 'no media while waiting');
  return { alice, bob, carol, link };
}

test('wait for a moderator: the host link brings the moderator back, and those waiting in', { timeout: 90000 }, async () => {
  const room = 'host-link-test';
  const { bob, carol, link } = await moderatorLeavesWithTheHostLink(room);
  assert.doesNotMatch(await carol.getByTestId('lobby-waiting').textContent(), /let you in/, 'not the lobby text');
  await carol.screenshot({ path: pathJoin(artifactsDir, 'wait-for-moderator.png') });

  // The host link, opened in another browser: the key leaves the address bar (the room link
  // stays), Alice joins as a moderator, and Carol is let in; one code for all three.
  const host = await newPage(browser, 'Alice (host link)');
  await host.goto(link);
  await host.getByTestId('host-link-note').waitFor();
  assert.equal(host.url(), `${server.url}/${room}#k=${roomLinkSecret(room)}`, 'the host key is gone from the address bar');
  await host.getByTestId('display-name-input').fill('Alice');
  await host.getByTestId('join-button').click();
  await host.getByTestId('e2ee-status').waitFor();
  const pages = [host, bob, carol];
  await Promise.all(pages.map((page) => waitEncrypted(page)));
  assert.equal((await state(host)).role, 'moderator');
  await eventually('one code and roster on all three pages', async () => {
    const all = await Promise.all(pages.map(state));
    const codes = new Set(all.map((s) => s.code?.digits));
    const rosters = all.map((s) => s.roster.map((m) => m.name).sort().join());
    return (codes.size === 1 && !codes.has(undefined) && rosters.every((r) => r === 'Alice,Bob,Carol')) || { ok: false, codes: [...codes], rosters };
  }, { timeout: 20000 });
  for (const page of pages) assert.deepEqual((await state(page)).warnings, []);

  // Alice locks the room, and her connection drops: she resumes her session (same participant,
  // still a moderator). (Resuming itself is tested in resume.test.mjs and screenshare.test.mjs.)
  await host.getByTestId('people-button').click();
  await host.getByTestId('lock-button').click();
  await eventually('the room is locked', async () => (await state(bob)).roomSettings.locked);
  const before = await state(host);
  await host.evaluate(() => window.sealroomDebug.meeting.socket.close());
  await eventually('Alice resumed', async () => {
    const s = await state(host);
    return (s.connection === 'connected' && s.resumes === 1) || { ok: false, connection: s.connection, resumes: s.resumes };
  }, { timeout: 15000 });
  assert.equal((await state(host)).participantId, before.participantId);
  // Then a drop the server will not resume (here: a token it does not know; in life, an outage
  // longer than its resume window or a server restart): she joins afresh with the moderator key
  // she now holds, past the lock, as a moderator.
  await host.evaluate(() => {
    const meeting = window.sealroomDebug.meeting;
    meeting.resumable.token = '0'.repeat(32);
    meeting.socket.close();
  });
  await eventually('Alice is back in the locked room as a moderator', async () => {
    const s = await state(host);
    return (s.connection === 'connected' && s.participantId !== before.participantId && s.role === 'moderator') || { ok: false, connection: s.connection, role: s.role };
  }, { timeout: 15000 });
});

test('wait for a moderator in a room with a lobby: the host link brings the moderator into the group, and the waiting screen follows', { timeout: 90000 }, async () => {
  const room = 'host-link-lobby-test';
  const { alice, bob, carol, link } = await moderatorLeavesWithTheHostLink(room, { lobby: true });
  // Alice comes back on her own browser: its device key is a moderator's in the room policy,
  // so Bob's page may add her although the lobby is on and nobody inside moderates.
  const host = alice;
  await host.goto('about:blank'); // the link differs only in its fragment: load it afresh
  await host.goto(link);
  await host.getByTestId('display-name-input').fill('Alice');
  await host.getByTestId('join-button').click();
  await host.getByTestId('e2ee-status').waitFor();
  // Bob's page adds the returning moderator to the group, without a warning.
  await Promise.all([waitEncrypted(host), waitEncrypted(bob)]);
  await eventually('one code and roster for Alice and Bob', async () => {
    const all = await Promise.all([host, bob].map(state));
    const codes = new Set(all.map((s) => s.code?.digits));
    const rosters = all.map((s) => s.roster.map((m) => m.name).sort().join());
    return (codes.size === 1 && !codes.has(undefined) && rosters.every((r) => r === 'Alice,Bob')) || { ok: false, codes: [...codes], rosters };
  }, { timeout: 20000 });
  for (const page of [host, bob]) assert.deepEqual((await state(page)).warnings, []);
  // A moderator is in: Carol now waits for admission, in the lobby, and is told so.
  await carol.locator('[data-testid="lobby-waiting"][data-wait="admission"]').waitFor({ timeout: 15000 });
  assert.equal(await carol.getByTestId('lobby-waiting-title').textContent(), 'Waiting for a moderator to let you in');
  await host.getByTestId('people-button').click();
  await lobbyEntry(host, 'Carol').waitFor({ timeout: 15000 });
  assert.equal(await hasRemoteDescription(carol), false, 'still no media');
  // The moderator leaves again: Carol waits for one, and is told so.
  await host.getByTestId('leave-button').click();
  await carol.locator('[data-testid="lobby-waiting"][data-wait="moderator"]').waitFor({ timeout: 15000 });
});
