// The MFA policy in the browser: an owner requires a second factor of everyone; Mel, who has
// none, signs in and is sent to the account page, and a room link sends her back there (her
// session may only enrol a factor: the server refuses it the signalling connection). She sets up
// an authenticator app from the page's QR code and key, confirms it with a first code, is shown
// her ten recovery codes once, and then joins the room as herself.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';
import { join, launchBrowser, newPage, startServer, state, submitSignIn, waitEncrypted } from './support.mjs';

const PASSWORD = 'amber orbit tulip lantern 42';
let server;
let browser;
before(async () => {
  server = await startServer([], { accounts: { olivia: { password: PASSWORD, role: 'owner' }, mel: PASSWORD } });
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); await server?.stop(); });

/** RFC 6238's code (SHA-1, 6 digits, 30 s) of a base32 key at `secs`. */
function totp(base32, secs = Date.now() / 1000) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bits = [...base32.replace(/=+$/, '')].map((c) => alphabet.indexOf(c).toString(2).padStart(5, '0')).join('');
  const key = Buffer.from(bits.match(/.{8}/g).map((byte) => parseInt(byte, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(secs / 30)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

test('a member without a second factor is sent to enrol one, and then joins', { timeout: 90000 }, async () => {
  const [owner, mel] = await Promise.all(['Olivia', 'Mel'].map((name) => newPage(browser, name)));
  await submitSignIn(owner, server.url, 'olivia', PASSWORD);
  await owner.getByTestId('signed-in-as').waitFor();
  await owner.getByTestId('admin-link').click();
  await owner.getByTestId('mfa-policy').selectOption('everyone');
  await owner.getByTestId('mfa-policy-save').click();
  await owner.getByTestId('admin-status').filter({ hasText: 'everyone' }).waitFor();

  await submitSignIn(mel, server.url, 'mel', PASSWORD);
  await mel.getByTestId('enrolment-required').waitFor();
  await mel.waitForURL('**/account/security');
  // A room is out of reach until she has a factor.
  await mel.goto(`${server.url}/mfa-room`);
  await mel.getByTestId('enrolment-required').waitFor();

  await mel.getByTestId('totp-start').click();
  await mel.getByTestId('totp-qr').waitFor();
  const key = await mel.getByTestId('totp-secret').textContent();
  await mel.getByTestId('totp-confirm-code').fill(totp(key));
  await mel.getByTestId('totp-confirm').click();
  await mel.getByTestId('security-ready').waitFor();
  assert.equal(await mel.getByTestId('recovery-codes').locator('li').count(), 10);
  await mel.getByTestId('totp-on').waitFor();

  await join(mel, server.url, 'mfa-room', 'Mel');
  await waitEncrypted(mel);
  assert.equal((await state(mel)).account, 'mel');
});
