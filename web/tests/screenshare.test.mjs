// Screen sharing uses the third, pre-made transceiver (replaceTrack, no renegotiation): the
// other browser decodes it and shows it in its own tile; stopping removes the tile.
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

  // The signalling connection drops: Bob sees the reconnecting banner, rejoins the group as a
  // new member, and both end on one shared code again.
  await bob.evaluate(() => window.sealroomDebug.meeting.socket.close());
  await bob.getByTestId('reconnecting-banner').waitFor({ state: 'visible', timeout: 5000 });
  await waitEncrypted(bob, 30000);
  await bob.getByTestId('reconnecting-banner').waitFor({ state: 'hidden' });
  await eventually('one shared code after the reconnect', async () => {
    const [a, b] = await Promise.all([alice, bob].map((p) => p.evaluate(() => window.sealroomDebug.state())));
    return a.code && a.code.digits === b.code?.digits && a.roster.length === 2 && b.roster.length === 2;
  }, { timeout: 30000 });
});
