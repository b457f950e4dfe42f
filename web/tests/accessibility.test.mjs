// Accessibility in Chromium: axe-core checks every main screen — home, the sign-in dialog, the
// invitation page, the pre-join screen, the meeting with its people and security panels, the
// lobby as a waiting joiner and as the moderator who admits, the account's security page and
// the administration console — and finds no serious or critical violation.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import { join, launchBrowser, newPage, openPrejoin, signIn, startServer } from './support.mjs';

const PASSWORD = 'amber orbit tulip lantern 42';
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
let server;
let browser;
before(async () => {
  server = await startServer([], { accounts: { adam: { password: PASSWORD, role: 'admin' } } });
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); await server?.stop(); });

/** The serious and critical violations axe-core finds on the page as it is now. Evaluated over
 *  the DevTools protocol, which the page's Content Security Policy does not govern. */
async function violations(page) {
  await page.evaluate(AXE);
  const found = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations);
  return found
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
}

async function check(page, screen) {
  assert.deepEqual(await violations(page), [], `${screen}: serious or critical accessibility violations`);
}

test('every main screen passes axe-core without serious or critical violations', { timeout: 120000 }, async () => {
  const [adam, guest] = await Promise.all(['Adam', 'Gus'].map((name) => newPage(browser, name)));
  await guest.goto(server.url);
  await guest.getByTestId('sign-in-button').waitFor();
  await check(guest, 'home');
  await guest.getByTestId('sign-in-button').click();
  await guest.getByTestId('sign-in-username').waitFor();
  await check(guest, 'sign-in dialog');
  await guest.goto(`${server.url}/account/invite#t=${'x'.repeat(43)}`);
  await guest.getByTestId('invite-error').waitFor();
  await check(guest, 'invitation page');

  await signIn(adam, server.url, 'adam', PASSWORD);
  await adam.goto(`${server.url}/org/admin`);
  await adam.getByTestId('settings-form').waitFor();
  await adam.getByTestId('invite-form').waitFor();
  await check(adam, 'administration console');
  await adam.goto(`${server.url}/account/security`);
  await adam.getByRole('heading').first().waitFor();
  await check(adam, 'account security');

  const room = 'accessible-room';
  await openPrejoin(adam, server.url, room, 'Adam');
  await check(adam, 'pre-join');
  await adam.getByTestId('join-button').click();
  await adam.getByTestId('e2ee-status').waitFor();
  await check(adam, 'meeting');
  await adam.getByTestId('people-button').click();
  await adam.getByTestId('lobby-toggle').click();
  await adam.locator('[data-testid="lobby-toggle"][aria-pressed="true"]').waitFor();
  await check(adam, 'people panel');

  await join(guest, server.url, room, 'Gus', { until: 'lobby-waiting' });
  await check(guest, 'lobby, waiting');
  await adam.getByTestId('lobby-list').filter({ hasText: 'Gus' }).waitFor();
  await check(adam, 'lobby, moderator');
  await adam.getByTestId('security-button').click();
  await adam.getByTestId('security-code').waitFor();
  await check(adam, 'security panel');
});
