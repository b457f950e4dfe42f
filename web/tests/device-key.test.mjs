// A browser keeps its device key (sealed in IndexedDB): its fingerprint is the same after a
// reload and in the next meeting, so a peer verified in one meeting shows "Verified" in the
// next, and "Key changed" means a key changed (review findings M4, M5).
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { closePages, eventually, join, launchBrowser, newPage, startServer, state, waitEncrypted } from './support.mjs';

let server;
let browser;
before(async () => { server = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await server?.stop(); });
afterEach(closePages);

/** Alice and Bob meet in `room`; resolves once both are in the encrypted group. */
async function meet(alice, bob, room) {
  await join(alice, server.url, room, 'Alice');
  await join(bob, server.url, room, 'Bob');
  await Promise.all([waitEncrypted(alice), waitEncrypted(bob)]);
}

function tileBadge(page, name) {
  return page.$eval(`[data-testid="participant-tile"][data-name="${name}"] .tile-badge`, (el) => (el.hidden ? '' : el.textContent)).catch(() => null);
}

test('a verified peer is still verified in the next meeting, and a reload keeps the fingerprint', { timeout: 120000 }, async () => {
  const [alice, bob] = await Promise.all(['Alice', 'Bob'].map((name) => newPage(browser, name)));
  await meet(alice, bob, 'device-key-first');
  const fingerprints = { alice: (await state(alice)).fingerprint, bob: (await state(bob)).fingerprint };

  // Alice compares Bob's key and marks him verified.
  await alice.getByTestId('security-button').click();
  await alice.locator('.key-row[data-name="Bob"]').getByTestId('verify-button').click();
  await eventually('Bob verified on Alice\'s screen', async () => (await tileBadge(alice, 'Bob')) === 'Verified');
  await Promise.all([alice, bob].map((page) => page.getByTestId('leave-button').click()));

  // The next meeting: the same keys, so the mark still holds, and nothing says a key changed.
  await meet(alice, bob, 'device-key-second');
  assert.equal((await state(bob)).fingerprint, fingerprints.bob);
  assert.equal((await state(alice)).fingerprint, fingerprints.alice);
  await eventually('Bob still verified in the next meeting', async () => (await tileBadge(alice, 'Bob')) === 'Verified' || { ok: false, badge: await tileBadge(alice, 'Bob') });

  // Bob reloads and joins again: still the same device to Alice.
  await bob.reload();
  await join(bob, server.url, 'device-key-second', 'Bob');
  await waitEncrypted(bob);
  assert.equal((await state(bob)).fingerprint, fingerprints.bob, 'a reload keeps the fingerprint');
  await eventually('Bob verified after his reload', async () => (await tileBadge(alice, 'Bob')) === 'Verified' || { ok: false, badge: await tileBadge(alice, 'Bob') });
});
