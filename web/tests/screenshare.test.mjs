// Screen sharing uses the third, pre-made transceiver (replaceTrack, no renegotiation): the
// other browser decodes it and shows it in its own tile; stopping removes the tile. Then the
// viewer's signalling connection drops, and it resumes its session without a rekey.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join as pathJoin } from 'node:path';
import { artifactsDir, eventually, inbound, join, launchBrowser, newPage, startServer, state, videoVariance, waitEncrypted } from './support.mjs';

let server;
let browser;
before(async () => { server = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await server?.stop(); });

test('a shared screen is decoded by the others', { timeout: 90000 }, async () => {
  const room = 'screenshare-test';
  const alice = await newPage(browser, 'alice');
  const bob = await newPage(browser, 'bob');
  await join(alice, server.url, room, 'Alice');
  await join(bob, server.url, room, 'Bob');
  await Promise.all([waitEncrypted(alice), waitEncrypted(bob)]);

  await alice.getByTestId('screenshare-button').click();
  await alice.getByTestId('screenshare-tile').waitFor({ timeout: 15000 });

  const tile = bob.locator('[data-testid="screenshare-tile"][data-name="Alice"]');
  await tile.waitFor({ timeout: 30000 });
  const mid = (await state(bob)).remotes.find((r) => r.name === 'Alice').mids.screen;
  const first = (await inbound(bob))[mid].framesDecoded;
  await bob.waitForTimeout(1500);
  const second = (await inbound(bob))[mid].framesDecoded;
  assert.ok(second > first && first > 0, `screen frames decoded and rising: ${first} -> ${second}`);
  const rendered = await eventually('bob renders the screen', async () => {
    const [v] = await videoVariance(bob, '[data-testid="screenshare-tile"] video');
    return v && v.width > 0 && v.variance > 5 ? v : { ok: false, v };
  }, { timeout: 15000 });
  console.log('screen at bob:', JSON.stringify(rendered));
  await bob.screenshot({ path: pathJoin(artifactsDir, 'meeting-screenshare.png') });

  await alice.getByTestId('screenshare-button').click();
  await tile.waitFor({ state: 'detached', timeout: 15000 });

  // The signalling connection drops: Bob sees the reconnecting banner, resumes his session —
  // the same participant, MLS leaf, epoch and PeerConnection, nobody added or removed — and the
  // banner goes.
  const before = await state(bob);
  await bob.evaluate(() => { window.pcBeforeDrop = window.sealroomDebug.pc(); window.sealroomDebug.meeting.socket.close(); });
  await bob.getByTestId('reconnecting-banner').waitFor({ state: 'visible', timeout: 5000 });
  await bob.getByTestId('reconnecting-banner').waitFor({ state: 'hidden', timeout: 15000 });
  await waitEncrypted(bob, 15000);
  const [a, b] = await Promise.all([state(alice), state(bob)]);
  assert.equal(b.connection, 'connected');
  assert.equal(b.resumes, 1, 'resumed, not joined again');
  assert.equal(b.participantId, before.participantId);
  assert.equal(b.fingerprint, before.fingerprint, 'the same device key');
  assert.equal(b.ownLeaf, before.ownLeaf, 'the same MLS leaf');
  assert.equal(b.epoch, before.epoch, 'no commit: nobody left or joined');
  assert.equal(b.roster.length, 2);
  assert.equal(a.roster.length, 2, 'no second Bob in the group');
  assert.equal(b.code.digits, a.code.digits);
  assert.ok(await bob.evaluate(() => window.sealroomDebug.pc() === window.pcBeforeDrop), 'the same PeerConnection');
  assert.deepEqual(b.errors, []);
  // Media kept flowing: Alice's camera is still decoded.
  const camera = b.remotes.find((r) => r.name === 'Alice').mids.camera;
  const framesThen = (await inbound(bob))[camera].framesDecoded;
  await eventually('Alice\'s camera still decoded at Bob', async () => (await inbound(bob))[camera].framesDecoded > framesThen, { timeout: 10000 });
});
