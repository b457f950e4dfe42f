// The audit log in the console, as the organisation's auditor reads it in Chromium: she opens
// the console, searches for refused sign-ins, checks the hash chain, and downloads what she
// found as CSV; the file holds the refusal, and her download is itself on record.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, afterEach, before, test } from 'node:test';
import { closePages, launchBrowser, newPage, startServer, submitSignIn } from './support.mjs';

const PASSWORD = 'amber orbit tulip lantern 42';
let server;
let browser;
before(async () => {
  server = await startServer([], { accounts: { audrey: { password: PASSWORD, role: 'auditor' }, mel: PASSWORD } });
  browser = await launchBrowser();
});
afterEach(closePages);
after(async () => { await browser?.close(); await server?.stop(); });

test('an auditor searches, checks and downloads the audit log from the console', { timeout: 60000 }, async () => {
  const [auditor, member] = await Promise.all(['Audrey', 'Mel'].map((name) => newPage(browser, name)));
  await submitSignIn(member, server.url, 'mel', 'not the password at all');
  await member.getByTestId('sign-in-error').filter({ hasText: /\S/ }).waitFor();
  await submitSignIn(auditor, server.url, 'audrey', PASSWORD);
  await auditor.getByTestId('signed-in-as').waitFor();
  await auditor.getByTestId('admin-link').click();

  await auditor.getByTestId('audit-action').fill('sign_in_refused');
  await auditor.getByTestId('audit-search').click();
  const refused = auditor.locator('[data-testid="audit-record"][data-action="sign_in_refused"]');
  await auditor.getByTestId('audit-status').filter({ hasText: '1 record(s) shown' }).waitFor();
  assert.match(await refused.textContent(), /password_wrong/);
  assert.equal(await auditor.locator('[data-testid="audit-record"]').count(), 1, 'only what matches');

  await auditor.getByTestId('audit-verify').click();
  await auditor.getByTestId('audit-chain').filter({ hasText: /record\(s\) verified\. Head: record \d+, hash [0-9a-f]{64}/ }).waitFor();

  const [download] = await Promise.all([auditor.waitForEvent('download'), auditor.getByTestId('audit-download-csv').click()]);
  assert.equal(download.suggestedFilename(), 'sealroom-audit.csv');
  const csv = (await readFile(await download.path(), 'utf8')).trim().split('\n');
  assert.equal(csv[0], 'seq,at,action,room,participant,detail,hash');
  assert.equal(csv.length, 2, `the header and the one refusal: ${csv}`);
  assert.match(csv[1], /sign_in_refused/);

  await auditor.getByTestId('audit-action').fill('audit_exported');
  await auditor.getByTestId('audit-search').click();
  const exported = auditor.locator('[data-testid="audit-record"][data-action="audit_exported"]');
  assert.match(await exported.textContent(), /audrey.*format=csv action="sign_in_refused"/);
});
