// Passkeys in Chromium, with its own WebAuthn stack and a virtual authenticator (CDP: internal,
// resident keys, user verification): Pat registers a passkey on the account page (her first
// factor, so recovery codes are shown once), then signs in with it alone, no name typed; her
// password alone no longer signs in, and password plus passkey does; when the authenticator
// fails user verification the sign-in is refused and the page stays signed out. The page is on
// http://localhost:<port>, the relying party the server derives from its loopback origin.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser, newPage, startServer } from './support.mjs';

const PASSWORD = 'amber orbit tulip lantern 42';
let server;
let browser;
before(async () => {
  server = await startServer([], { accounts: { pat: PASSWORD } });
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); await server?.stop(); });

/** A virtual platform authenticator for `page`, as a phone's or a laptop's would be. */
async function virtualAuthenticator(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', { options: {
    protocol: 'ctap2', ctap2Version: 'ctap2_1', transport: 'internal',
    hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
  } });
  return { cdp, authenticatorId };
}

/** Opens the home page's sign-in form, with the account name and password typed. */
async function openSignIn(page, username = '', password = '') {
  await page.goto(server.localUrl);
  await page.getByTestId('sign-in-button').click();
  await page.getByTestId('sign-in-username').fill(username);
  await page.getByTestId('sign-in-password').fill(password);
}

async function signOut(page) {
  await page.evaluate(() => fetch('/api/session', { method: 'DELETE' }));
}

/** What `POST /api/session` answers a password alone. */
function passwordAlone(page) {
  return page.evaluate(async (password) => (await fetch('/api/session', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'pat', password }),
  })).status, PASSWORD);
}

test('a passkey registers, signs in alone and as a second factor, and needs user verification', { timeout: 90000 }, async () => {
  const page = await newPage(browser, 'Pat');
  const { cdp, authenticatorId } = await virtualAuthenticator(page);

  await openSignIn(page, 'pat', PASSWORD);
  await page.getByTestId('sign-in-submit').click();
  await page.getByTestId('security-link').click();
  await page.getByTestId('passkey-name').fill('Laptop');
  await page.getByTestId('passkey-add').click();
  await page.getByTestId('passkey-row').filter({ hasText: 'Laptop' }).waitFor();
  assert.equal(await page.getByTestId('recovery-codes').locator('li').count(), 10);
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(credentials.length, 1);
  assert.equal(credentials[0].isResidentCredential, true, 'discoverable, so it names its account');

  // Alone: no name, no password.
  await signOut(page);
  await openSignIn(page);
  await page.getByTestId('sign-in-passkey').click();
  await page.getByTestId('signed-in-as').filter({ hasText: 'Signed in as pat' }).waitFor();
  const used = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.ok(used.credentials[0].signCount > credentials[0].signCount, 'the counter moved');

  // The password alone is no longer enough; with the passkey as its second factor it is.
  await signOut(page);
  assert.equal(await passwordAlone(page), 401);
  await openSignIn(page, 'pat', PASSWORD);
  await page.getByTestId('sign-in-passkey-second').click();
  await page.getByTestId('signed-in-as').filter({ hasText: 'Signed in as pat' }).waitFor();

  // The authenticator cannot verify the user: no sign-in.
  await signOut(page);
  await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: false });
  await openSignIn(page);
  await page.getByTestId('sign-in-passkey').click();
  await page.getByTestId('sign-in-error').filter({ hasText: 'NotAllowedError' }).waitFor();
  assert.equal(await page.getByTestId('account').getAttribute('data-state'), 'signed-out');
  const session = await page.evaluate(async () => (await fetch('/api/session')).status);
  assert.equal(session, 401);
});
