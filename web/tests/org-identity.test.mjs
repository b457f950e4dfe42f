// Organisational identity from the MLS credential, in Chromium: Alice, Bob and Carol sign in,
// and each page asks the server for the organisation's binding of its device key to its account,
// which its MLS leaf then carries. Carol's page plays the forger: it swaps the account in its
// binding for "alice" before the binding goes in its leaf. Dave joins as a guest whose browser
// pinned another organisation key for this server (a server that replaced its key). Everyone's
// People panel names an account only where the pinned organisation key vouches for the leaf:
// Bob is "bob, verified by your organisation" for Alice; Carol's forged binding is refused and
// names nobody; Dave is warned that the key changed and sees nobody verified.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join as pathJoin } from 'node:path';
import { artifactsDir, eventually, join, launchBrowser, newPage, personRow, startServer, state, signIn, waitEncrypted } from './support.mjs';

const PASSWORD = 'amber orbit tulip lantern 42';
/** Another organisation's key (RFC 8032's first test key): not this server's. */
const OTHER_ORGANISATION_KEY = Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex').toString('base64url');
const PIN = 'sealroom.organisationKey';

let server;
let browser;
before(async () => {
  server = await startServer([], { accounts: { alice: PASSWORD, bob: PASSWORD, carol: PASSWORD } });
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); await server?.stop(); });

/** Carol's binding with another account name of the same length: its signature no longer
 *  holds, but it still names her device key, so her core puts it in her leaf. */
async function forgeBinding(page) {
  await page.route('**/api/account/identity-binding', async (route) => {
    const answer = await (await route.fetch()).json();
    const bytes = Buffer.from(answer.binding, 'base64url');
    const at = bytes.indexOf('carol');
    assert.ok(at > 0, 'the binding names its account');
    bytes.write('alice', at);
    await route.fulfill({ json: { ...answer, binding: bytes.toString('base64url') } });
  });
}

/** Each roster member's name, the account it is verified for, and its binding's standing. */
async function orgRoster(page) {
  return Object.fromEntries((await state(page)).roster.map((m) => [m.name, [m.orgIdentity, m.orgBinding]]));
}

test('the roster names the accounts the pinned organisation key vouches for, and no forged one', { timeout: 120000 }, async () => {
  const room = 'org-identity-test';
  const names = ['Alice', 'Bob', 'Carol', 'Dave'];
  const [alice, bob, carol, dave] = await Promise.all(names.map((name) => newPage(browser, name)));
  await Promise.all([signIn(alice, server.url, 'alice', PASSWORD), signIn(bob, server.url, 'bob', PASSWORD), signIn(carol, server.url, 'carol', PASSWORD)]);
  await forgeBinding(carol);
  await dave.addInitScript(([pin, key]) => localStorage.setItem(pin, key), [PIN, OTHER_ORGANISATION_KEY]);

  for (const [i, page] of [alice, bob, carol, dave].entries()) await join(page, server.url, room, names[i]);
  const pages = [alice, bob, carol, dave];
  await Promise.all(pages.map((page) => waitEncrypted(page)));
  await eventually('everyone in one group', async () => (await Promise.all(pages.map(state))).every((s) => s.roster.length === names.length));

  // On first use, Alice's browser pinned the key this server presents.
  const serverKey = await alice.evaluate(async () => (await (await fetch('/api/org/identity-key')).json()).key);
  assert.equal(await alice.evaluate((pin) => localStorage.getItem(pin), PIN), serverKey);

  // Alice: herself and Bob verified; Carol's binding refused, naming nobody; Dave a guest.
  await eventually('Alice checks every leaf', async () => {
    const roster = await orgRoster(alice);
    assert.deepEqual(roster, {
      Alice: ['alice', 'verified'],
      Bob: ['bob', 'verified'],
      Carol: [null, 'bad_signature'],
      Dave: [null, 'none'],
    });
    return true;
  });
  await alice.getByTestId('people-button').click();
  assert.equal(await personRow(alice, 'Bob').getByTestId('org-identity-badge').textContent(), 'bob, verified by your organisation');
  const carolRow = personRow(alice, 'Carol');
  assert.equal(await carolRow.getByTestId('org-binding-refused').getAttribute('data-reason'), 'bad_signature');
  assert.equal(await carolRow.getByTestId('org-identity-badge').count(), 0);
  assert.equal(await personRow(alice, 'Dave').getByTestId('org-identity-badge').count(), 0);
  await alice.screenshot({ path: pathJoin(artifactsDir, 'org-identity-people.png') });

  // Dave pinned another organisation's key: warned, the pin kept, and nobody verified.
  await dave.getByTestId('mls-warning').filter({ hasText: 'is not the one this browser pinned' }).waitFor();
  assert.equal(await dave.evaluate((pin) => localStorage.getItem(pin), PIN), OTHER_ORGANISATION_KEY);
  const daveView = await orgRoster(dave);
  assert.deepEqual(Object.values(daveView).map(([account]) => account), [null, null, null, null]);
  assert.deepEqual([daveView.Alice[1], daveView.Bob[1]], ['bad_signature', 'bad_signature']);
});
