// Signing in with an identity provider (OpenID Connect) in Chromium, against a real provider
// (npm oidc-provider, OpenID Certified: crates/sealroom-server/tests/oidc-provider/op.mjs): the
// home page shows "Sign in with Corp SSO"; clicking it goes through the provider's login and
// consent forms and comes back signed in as alice (an admin, from her groups); signing out
// ends the session and goes through the provider's logout, which sends the browser home.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join as pathJoin } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { artifactsDir, freePort, launchBrowser, newPage, repoDir, startServer } from './support.mjs';

const providerDir = pathJoin(repoDir, 'crates/sealroom-server/tests/oidc-provider');
let server;
let provider;
let browser;

/** Starts op.mjs on `port`, sending browsers back to `serverUrl`; resolves once it serves. */
function startProvider(port, serverUrl) {
  const child = spawn('node', ['op.mjs'], {
    cwd: providerDir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, OP_PORT: String(port), REDIRECT_URI: `${serverUrl}/auth/oidc/callback`, POST_LOGOUT_URI: `${serverUrl}/` },
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('op.mjs did not start')), 20000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('listening ')) { clearTimeout(timer); resolve(child); }
    });
    child.once('exit', (code) => reject(new Error(`op.mjs exited with ${code}`)));
  });
}

before(async () => {
  const opPort = await freePort();
  // The server reads the provider's discovery at the first sign-in, so it may start first.
  server = await startServer([], {
    config: [
      '[[oidc]]', 'name = "corp"', 'label = "Corp SSO"', `issuer = "http://127.0.0.1:${opPort}"`,
      'client_id = "sealroom"', 'client_secret = "sealroom-secret"', 'scopes = ["email", "profile", "groups"]',
      'role_claim = "groups"', 'roles = { "sealroom-admins" = "admin" }', 'allow_http_on_loopback = true', '',
    ].join('\n'),
  });
  provider = await startProvider(opPort, server.url);
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); provider?.kill(); await server?.stop(); });

test('signing in and out through an identity provider', { timeout: 60000 }, async () => {
  const page = await newPage(browser, 'Alice');
  await page.goto(server.url);
  const button = page.getByTestId('sso-corp');
  await button.filter({ hasText: 'Sign in with Corp SSO' }).waitFor();
  await page.screenshot({ path: pathJoin(artifactsDir, 'oidc-home.png') });

  // The provider's own pages: its login form (any login), then its consent form.
  await button.click();
  await page.locator('input[name=login]').fill('alice');
  await page.locator('input[name=password]').fill('any password');
  await page.locator('button[type=submit]').click();
  await page.getByRole('button', { name: 'Continue' }).click();

  // Home again, signed in: the header shows the account, the provider button is gone.
  await page.getByTestId('signed-in-as').filter({ hasText: 'Signed in as alice' }).waitFor();
  assert.equal(new URL(page.url()).origin, server.url);
  assert.equal(await page.getByTestId('sso-buttons').isHidden(), true);
  const who = await page.evaluate(async () => (await (await fetch('/api/session')).json()).username);
  assert.equal(who, 'alice');
  await page.screenshot({ path: pathJoin(artifactsDir, 'oidc-signed-in.png') });

  // Signing out goes through the provider's logout, which sends the browser home signed out.
  await page.getByTestId('sign-out-button').click();
  await page.waitForURL((url) => url.origin !== server.url);
  await page.locator('button[value=yes]').click();
  await page.waitForURL(`${server.url}/`);
  await page.getByTestId('sign-in-button').waitFor();
  await button.waitFor();
  const after = await page.evaluate(async () => (await (await fetch('/api/session')).json()).error);
  assert.equal(after, 'signed_out');
});
