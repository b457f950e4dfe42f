// End-to-end encrypted files between Chromium pages: a 50 MB file from Alice to Bob and Carol,
// each saving a file with the sender's SHA-256, while the server's blob store holds no byte of
// plaintext; a network that cuts the download short or alters one byte gets a clear failure
// and no file; files left to moderators: the button hidden and an upload refused.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join as pathJoin } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { artifactsDir, closePages, eventually, launchBrowser, meet as meetIn, scratchDir, startServer, state } from './support.mjs';

let server;
let browser;
const scratch = scratchDir('sealroom-files-');
before(async () => { server = await startServer(); browser = await launchBrowser(); });
afterEach(closePages);
after(async () => { await browser?.close(); await server?.stop(); });

function meet(room, names) {
  return meetIn(browser, server.url, room, names);
}

/** A file of `size` random bytes with `marker` written every mebibyte: what no store may hold. */
function testFile(name, size, marker) {
  const bytes = randomBytes(size);
  for (let at = 0; at + marker.length <= size; at += 1 << 20) marker.copy(bytes, at);
  const path = pathJoin(scratch, name);
  writeFileSync(path, bytes);
  return { path, sha256: createHash('sha256').update(bytes).digest('hex') };
}

async function openChat(page) {
  await page.getByTestId('chat-button').click();
  await page.getByTestId('chat-log').waitFor();
}

function fileRow(page, name, state) {
  const row = page.locator(`[data-testid="file-row"][data-name="${name}"]`);
  return state ? row.and(page.locator(`[data-state="${state}"]`)) : row;
}

async function sendFile(page, path, name) {
  await openChat(page);
  await page.getByTestId('file-picker').setInputFiles(path);
  await fileRow(page, name, 'sent').waitFor({ timeout: 120000 });
}

/** Downloads and decrypts the offered file, saves it as the user would, and hashes what was saved. */
async function receiveAndSave(page, name) {
  await openChat(page);
  await fileRow(page, name, 'offered').getByTestId('file-download').click();
  await fileRow(page, name, 'received').waitFor({ timeout: 120000 });
  const [download] = await Promise.all([page.waitForEvent('download'), fileRow(page, name).getByTestId('file-save').click()]);
  assert.equal(download.suggestedFilename(), name);
  return createHash('sha256').update(readFileSync(await download.path())).digest('hex');
}

/** Every file of the server's blob store holds none of `marker`. */
function assertNoPlaintextStored(marker) {
  const dir = pathJoin(server.data, 'blobs');
  const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile());
  assert.ok(files.length > 0, 'the blob store holds the upload');
  for (const entry of files) {
    const stored = readFileSync(pathJoin(entry.parentPath, entry.name));
    assert.equal(stored.indexOf(marker), -1, `plaintext in ${entry.name}`);
  }
}

test('a 50 MB file from one page to two others, with the same SHA-256 and no plaintext on the server', { timeout: 420000 }, async () => {
  const marker = Buffer.from(`SEALROOM-PLAINTEXT-MARKER-${randomBytes(8).toString('hex')}`);
  const { path, sha256 } = testFile('minutes.bin', 50_000_000, marker);
  const [alice, bob, carol] = await meet('files-three', ['Alice', 'Bob', 'Carol']);
  await sendFile(alice, path, 'minutes.bin');
  assertNoPlaintextStored(marker);
  for (const page of [bob, carol]) assert.equal(await receiveAndSave(page, 'minutes.bin'), sha256);
  await bob.screenshot({ path: pathJoin(artifactsDir, 'files-received.png') });
  assert.deepEqual((await state(bob)).files.map((f) => [f.from, f.state]), [['Alice', 'received']]);
});

/** Serves Bob's page the real blob, altered by `alter`: the network between him and the server. */
async function alterDownloads(page, alter) {
  await page.route('**/api/blobs/*', async (route) => {
    if (route.request().method() !== 'GET') return route.continue();
    const response = await route.fetch();
    const body = alter(await response.body());
    await route.fulfill({ status: 200, body, headers: { 'content-type': 'application/octet-stream' } });
  });
}

test('a download cut short or altered by one byte fails with a clear message and yields no file', { timeout: 180000 }, async () => {
  const marker = Buffer.from('not this either');
  const { path, sha256 } = testFile('slides.bin', 3_000_000, marker);
  const [alice, bob] = await meet('files-tampered', ['Alice', 'Bob']);
  await sendFile(alice, path, 'slides.bin');
  await openChat(bob);
  const cases = [
    ['truncated', (body) => body.subarray(0, body.length - 5000), /cut short.*\(truncated\).*No file was kept/],
    ['tampered', (body) => { const copy = Buffer.from(body); copy[copy.length >> 1] ^= 1; return copy; }, /altered.*\(tampered\).*No file was kept/],
  ];
  for (const [what, alter, message] of cases) {
    await alterDownloads(bob, alter);
    const row = fileRow(bob, 'slides.bin');
    await row.getByTestId('file-download').click();
    await row.getByTestId('file-status').filter({ hasText: message }).waitFor({ timeout: 60000 });
    assert.equal(await row.getAttribute('data-state'), 'failed', what);
    assert.equal(await row.getByTestId('file-save').count(), 0, `${what}: nothing to save`);
    assert.deepEqual(await bob.evaluate(opfsFiles), [], `${what}: nothing kept on the device`);
    await bob.unrouteAll({ behavior: 'wait' });
  }
  await bob.screenshot({ path: pathJoin(artifactsDir, 'files-tampered.png') });
  // The real blob, untouched, still comes through.
  await fileRow(bob, 'slides.bin').getByTestId('file-download').click();
  await fileRow(bob, 'slides.bin', 'received').waitFor({ timeout: 60000 });
  const [download] = await Promise.all([bob.waitForEvent('download'), fileRow(bob, 'slides.bin').getByTestId('file-save').click()]);
  assert.equal(createHash('sha256').update(readFileSync(await download.path())).digest('hex'), sha256);
});

/** The names in the page's origin private file system. */
async function opfsFiles() {
  const names = [];
  for await (const name of (await navigator.storage.getDirectory()).keys()) names.push(name);
  return names;
}

test('files left to moderators: the button hidden for a participant, and its upload refused', { timeout: 120000 }, async () => {
  const [alice, bob] = await meet('files-moderators', ['Alice', 'Bob']);
  await alice.getByTestId('people-button').click();
  await alice.getByTestId('permission-files').selectOption('moderators');
  await eventually('Bob told of the change', async () => (await state(bob)).roomSettings.permissions.files === 'moderators');
  await openChat(bob);
  assert.equal(await bob.getByTestId('file-send').isHidden(), true);
  // Forced through the page's file input all the same: the server refuses the upload.
  const { path } = testFile('forced.bin', 1000, Buffer.from('forced'));
  await bob.getByTestId('file-picker').setInputFiles(path);
  await fileRow(bob, 'forced.bin', 'failed').waitFor({ timeout: 30000 });
  assert.match(await fileRow(bob, 'forced.bin').getByTestId('file-status').textContent(), /The server refused/);
  await openChat(alice);
  assert.equal(await alice.getByTestId('file-row').count(), 0, 'nothing offered');
});
