// A new meeting's link carries a secret in its fragment, which the browser never sends to the
// server: whoever opens the link is let into the encrypted meeting, and the members' clients
// add nobody else the server asks them to add — not a device of the server's own (review
// finding C1). Someone who only knows the room's name waits in the lobby for a moderator.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { join as pathJoin } from 'node:path';
import { artifactsDir, closePages, decodesVideoFrom, eventually, join, launchBrowser, newPage, roomLinkSecret, securityCode, startServer, state, waitEncrypted, wasmCore } from './support.mjs';

let server;
let browser;
before(async () => { server = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await server?.stop(); });
afterEach(closePages);

test('a room link lets its holders in; the server cannot get its own device added, and a name-typer waits for admission', { timeout: 120000 }, async () => {
  const [alice, bob, carol] = await Promise.all(['Alice', 'Bob', 'Carol'].map((name) => newPage(browser, name)));
  await alice.goto(server.url);
  await alice.getByTestId('create-room-button').click();
  await alice.waitForURL(/#k=/);
  const link = alice.url();
  const [, room, secret] = /\/([a-z0-9-]+)#k=([A-Za-z0-9_-]{22})$/.exec(link) ?? [];
  assert.ok(room && secret, `a new meeting's link holds a 128-bit secret in its fragment: ${link}`);
  await join(alice, server.url, `${room}#k=${secret}`, 'Alice');
  await join(bob, server.url, `${room}#k=${secret}`, 'Bob');
  await Promise.all([waitEncrypted(alice), waitEncrypted(bob)]);
  await decodesVideoFrom(bob, 'Alice');
  await eventually('one code for Alice and Bob', async () => {
    const [a, b] = await Promise.all([securityCode(alice), securityCode(bob)]);
    return a && a === b;
  });
  for (const page of [alice, bob]) assert.deepEqual((await state(page)).warnings, [], 'Bob held the link: nobody is warned');

  // The server asks Alice's client to add a device of its own: nothing is committed, she is told.
  const { Device } = await wasmCore();
  const ghost = Buffer.from(new Device('Ghost').keyPackage()).toString('base64');
  const reply = await alice.evaluate((kp) => window.sealroomDebug.meeting.session.onMessage({ type: 'commit_requested', key_packages: [kp] }), ghost);
  assert.deepEqual(reply, [], 'no commit for a device without the link');
  await alice.getByTestId('mls-warning').filter({ hasText: 'does not hold the room link' }).waitFor();

  // Carol types the room's name: without the link no member would add her, so the server
  // keeps her in the lobby; she gets no key until Alice, who moderates, admits her.
  await join(carol, server.url, room, 'Carol', { typed: true, until: 'lobby-waiting' });
  await carol.screenshot({ path: pathJoin(artifactsDir, 'room-link-name-typer.png') });
  await alice.getByTestId('people-button').click();
  const carolWaits = alice.locator('[data-testid="lobby-list"] [data-name="Carol"]');
  await carolWaits.getByTestId('lobby-fingerprint').waitFor();
  for (const page of [alice, bob]) {
    assert.deepEqual((await state(page)).roster.map((m) => m.name).sort(), ['Alice', 'Bob'], 'Carol is not in the group');
  }
  assert.equal((await state(carol)).epoch, null, 'Carol holds no key of the meeting');
  await carolWaits.getByTestId('admit-button').click();
  await carol.getByTestId('e2ee-status').waitFor({ timeout: 15000 });
  await eventually('Carol is in the group, with one code for all', async () => {
    const codes = await Promise.all([alice, bob, carol].map(securityCode));
    return (codes[0] && codes.every((c) => c === codes[0])) || { ok: false, codes };
  }, { timeout: 20000 });
});

test('a moderator replaces the room link: the members follow, and the old link lets nobody in', { timeout: 120000 }, async () => {
  const room = 'rotated-link-test';
  const oldSecret = roomLinkSecret(room);
  const [alice, bob, carol, dana] = await Promise.all(['Alice', 'Bob', 'Carol', 'Dana'].map((name) => newPage(browser, name)));
  await join(alice, server.url, room, 'Alice');
  await join(bob, server.url, room, 'Bob');
  await Promise.all([waitEncrypted(alice), waitEncrypted(bob)]);

  await alice.getByTestId('people-button').click();
  await alice.getByTestId('rotate-link-button').click();
  const secretIn = (page) => new URL(page.url()).hash.replace(/^#k=/, '');
  const newSecret = await eventually('both address bars carry the new link', async () => {
    const [a, b] = [secretIn(alice), secretIn(bob)];
    return (a !== oldSecret && a === b && a) || { ok: false, alice: a, bob: b };
  }, { timeout: 20000 });
  assert.match(newSecret, /^[A-Za-z0-9_-]{22}$/);

  // Carol comes with the old link: the server lets her in, but no member's client adds her.
  await join(carol, server.url, `${room}#k=${oldSecret}`, 'Carol');
  await eventually('both members refused Carol', async () => {
    const all = await Promise.all([alice, bob].map(state));
    return all.every((s) => s.warnings.some((w) => w.includes('does not hold the room link'))) || { ok: false, warnings: all.map((s) => s.warnings) };
  });
  assert.equal((await state(carol)).epoch, null, 'Carol holds no key of the meeting');

  // Dana comes with the new link: she is in, with one code for the three members.
  await join(dana, server.url, `${room}#k=${newSecret}`, 'Dana');
  await eventually('one code for Alice, Bob and Dana', async () => {
    const codes = await Promise.all([alice, bob, dana].map(securityCode));
    return (codes[0] && codes.every((c) => c === codes[0])) || { ok: false, codes };
  }, { timeout: 20000 });
});
