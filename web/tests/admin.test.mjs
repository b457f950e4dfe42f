// The administration console in Chromium: an owner signs in, opens the console from the home
// page, gives an account another role, signs it out everywhere, makes an API token (shown once)
// that a script then uses, and revokes it; disables an account, which then cannot sign in, and
// enables it again; a member who opens the console is told their role does not allow it, and
// sees no account.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { join as pathJoin } from 'node:path';
import { artifactsDir, closePages, eventually, launchBrowser, newPage, signIn, startServer, submitSignIn } from './support.mjs';

const PASSWORD = 'amber orbit tulip lantern 42';
let server;
let browser;
before(async () => {
  server = await startServer([], { accounts: { olivia: { password: PASSWORD, role: 'owner' }, mel: PASSWORD } });
  browser = await launchBrowser();
});
afterEach(closePages);
after(async () => { await browser?.close(); await server?.stop(); });

/** What the server says of the accounts, asked with `token` as a script would. */
function listWith(token) {
  return fetch(`${server.url}/api/admin/accounts`, { headers: { Authorization: `Bearer ${token}` } });
}

test('an owner runs the organisation from the console', { timeout: 60000 }, async () => {
  const [owner, member] = await Promise.all(['Olivia', 'Mel'].map((name) => newPage(browser, name)));
  await signIn(member, server.url, 'mel', PASSWORD);
  await signIn(owner, server.url, 'olivia', PASSWORD);
  await owner.getByTestId('admin-link').click();
  const mel = owner.locator('[data-testid="admin-account"][data-name="mel"]');
  await mel.waitFor();

  await mel.getByTestId('admin-role').selectOption('auditor');
  await owner.getByTestId('admin-status').filter({ hasText: 'mel is now auditor.' }).waitFor();
  await mel.getByTestId('admin-end-sessions').click();
  await owner.getByTestId('admin-status').filter({ hasText: 'mel was signed out of 1 session(s).' }).waitFor();
  const melSession = await member.evaluate(async () => (await fetch('/api/session')).status);
  assert.equal(melSession, 401, "Mel's browser is signed out");

  await owner.getByTestId('admin-token-name').fill('exporter');
  await owner.getByTestId('admin-token-read_accounts').check();
  await owner.getByTestId('admin-token-create').click();
  const shown = owner.getByTestId('admin-new-token');
  await eventually('the token shown', async () => (await shown.textContent()).startsWith('sra_'));
  const token = await shown.textContent();
  await owner.locator('[data-testid="admin-token"][data-name="exporter"]').waitFor();
  assert.ok(!(await owner.getByTestId('admin-tokens').textContent()).includes(token), 'never listed');
  const listed = await (await listWith(token)).json();
  assert.deepEqual(listed.map((a) => [a.username, a.role]), [['mel', 'auditor'], ['olivia', 'owner']]);
  await owner.screenshot({ path: pathJoin(artifactsDir, 'admin-console.png') });

  await owner.locator('[data-testid="admin-token"][data-name="exporter"]').getByTestId('admin-revoke-token').click();
  await owner.locator('[data-testid="admin-token"][data-name="exporter"]').waitFor({ state: 'detached' });
  assert.equal((await listWith(token)).status, 401, 'a revoked token opens nothing');

  // Disabled, Mel cannot sign in; enabled again, she can.
  await mel.getByTestId('admin-disable').click();
  await owner.locator('[data-testid="admin-account"][data-name="mel"][data-disabled="true"]').waitFor();
  await submitSignIn(member, server.url, 'mel', PASSWORD);
  await member.getByTestId('sign-in-error').filter({ hasText: 'wrong' }).waitFor();
  await owner.locator('[data-testid="admin-account"][data-name="mel"]').getByTestId('admin-disable').click();
  await owner.locator('[data-testid="admin-account"][data-name="mel"][data-disabled="false"]').waitFor();

  // Mel, an auditor now, signs in again: the console refuses her the accounts.
  await signIn(member, server.url, 'mel', PASSWORD);
  await member.getByTestId('admin-link').click();
  await member.getByTestId('admin-refused').filter({ hasText: "Your account's role does not allow this" }).waitFor();
  assert.equal(await member.getByTestId('admin-account').count(), 0);
});
