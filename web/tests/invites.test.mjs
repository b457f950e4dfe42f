// Invitations in Chromium: an admin invites Nina as an auditor from the console and gets the
// link once; Nina opens it in her own browser, is told who invited her and as what, has a weak
// password refused by the server's policy, chooses a good one and lands on the home page
// signed in, the token gone from the address; the link then works no more. An invitation the
// admin withdraws leaves the list.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { closePages, launchBrowser, newPage, signIn, startServer } from './support.mjs';

const PASSWORD = 'amber orbit tulip lantern 42';
let server;
let browser;
before(async () => {
  server = await startServer([], { accounts: { adam: { password: PASSWORD, role: 'admin' } } });
  browser = await launchBrowser();
});
afterEach(closePages);
after(async () => { await browser?.close(); await server?.stop(); });

async function invite(admin, username, role) {
  await admin.getByTestId('invite-name').fill(username);
  await admin.getByTestId('invite-role').selectOption(role);
  await admin.getByTestId('invite-create').click();
  await admin.locator(`[data-testid="invite-row"][data-name="${username}"]`).waitFor();
}

test('an invited person chooses a password and is signed in, once', { timeout: 90000 }, async () => {
  const [admin, nina] = await Promise.all(['Adam', 'Nina'].map((name) => newPage(browser, name)));
  await signIn(admin, server.url, 'adam', PASSWORD);
  await admin.goto(`${server.url}/org/admin`);
  await invite(admin, 'nina', 'auditor');
  const link = await admin.getByTestId('invite-link').textContent();
  assert.match(link, /\/account\/invite#t=[A-Za-z0-9_-]{43}$/);

  await nina.goto(link);
  assert.match(await nina.getByTestId('invite-offer').textContent(), /adam invited you .* as auditor/);
  await nina.getByTestId('invite-password').fill('too short');
  await nina.getByTestId('invite-password-again').fill('too short');
  await nina.getByTestId('invite-accept').click();
  await nina.getByTestId('invite-error').filter({ hasText: 'at least 15 characters' }).waitFor();
  await nina.getByTestId('invite-password').fill('my own long passphrase');
  await nina.getByTestId('invite-password-again').fill('my own long passphrase');
  await nina.getByTestId('invite-accept').click();
  await nina.getByTestId('signed-in-as').filter({ hasText: 'nina' }).waitFor();
  assert.equal(new URL(nina.url()).hash, '');

  await nina.goto(link);
  await nina.getByTestId('invite-error').filter({ hasText: 'not valid' }).waitFor();

  await admin.reload();
  await admin.getByTestId('invite-form').waitFor();
  assert.equal(await admin.locator('[data-testid="invite-row"][data-name="nina"]').count(), 0);
  await admin.locator('[data-testid="admin-account"][data-name="nina"]').waitFor();
  await invite(admin, 'oscar', 'member');
  await admin.locator('[data-testid="invite-row"][data-name="oscar"]').getByTestId('invite-withdraw').click();
  await admin.locator('[data-testid="invite-row"][data-name="oscar"]').waitFor({ state: 'detached' });
});
