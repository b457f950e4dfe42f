// End-to-end encrypted recording in the browser: a moderator records the meeting as her page
// receives it; everyone sees the indicator; only ciphertext reaches the server's recording store;
// she decrypts it in her Recordings panel into a WebM that ffprobe reads (VP8 and Opus, as long
// as she recorded); Bob's key is no owner: his panel lists nothing and the stored file does not
// open for another key. With recording left to moderators, Bob has no Record button.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join as pathJoin } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { artifactsDir, closePages, eventually, launchBrowser, meet as meetIn, scratchDir, sealroomBin, startServer, state } from './support.mjs';

let server;
let browser;
const scratch = scratchDir('sealroom-recording-');
before(async () => { server = await startServer(); browser = await launchBrowser(); });
afterEach(closePages);
after(async () => { await browser?.close(); await server?.stop(); });

function meet(room, names) {
  return meetIn(browser, server.url, room, names);
}

/** What ffprobe says of a media file: its streams' codecs and the last video packet's time. */
function probe(path) {
  const run = (args) => JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-of', 'json', ...args, path], { encoding: 'utf8' }));
  const streams = run(['-show_entries', 'stream=codec_name,codec_type']).streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort();
  const packets = run(['-select_streams', 'v:0', '-show_entries', 'packet=pts_time']).packets;
  return { streams, seconds: Number(packets.at(-1)?.pts_time ?? 0) };
}

function storedRecordings() {
  const dir = pathJoin(server.data, 'recordings');
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => pathJoin(e.parentPath, e.name));
}

test('a recording made in the browser opens for its owner alone', { timeout: 180000 }, async () => {
  const [alice, bob] = await meet('recording-two', ['Alice', 'Bob']);
  await alice.getByTestId('record-button').click();
  for (const [page, who] of [[alice, 'you'], [bob, 'Alice']]) {
    await page.getByTestId('recording-indicator').filter({ hasText: `Recording: ${who}` }).waitFor({ timeout: 20000 });
  }
  const recordedFrom = Date.now();
  // Recording for a while, as the uploads show.
  await eventually('a few seconds uploaded', async () => (await state(alice)).recorder.uploaded > 200_000 && Date.now() - recordedFrom > 6000, { timeout: 60000 });
  await alice.getByTestId('record-button').click();
  const recordedSeconds = (Date.now() - recordedFrom) / 1000;
  await eventually('the recording saved', async () => (await state(alice)).recorder.state === 'idle', { timeout: 60000 });
  assert.equal((await state(alice)).recorder.error, null);
  await bob.getByTestId('recording-indicator').waitFor({ state: 'hidden', timeout: 20000 });

  const stored = storedRecordings().filter((path) => !path.endsWith('.json'));
  assert.ok(stored.length >= 1, 'the store holds the recording');
  for (const path of stored) {
    const bytes = readFileSync(path);
    assert.equal(bytes.subarray(0, 4).toString(), 'SRR1');
    for (const marker of ['webm', 'Chrome', 'V_VP8', 'A_OPUS']) assert.equal(bytes.indexOf(marker), -1, `${marker} in ${path}`);
  }

  await alice.getByTestId('recordings-button').click();
  const row = alice.getByTestId('recording-row').first();
  await row.getByTestId('recording-open').click();
  await row.getByTestId('recording-save').waitFor({ timeout: 60000 });
  const [download] = await Promise.all([alice.waitForEvent('download'), row.getByTestId('recording-save').click()]);
  const webm = pathJoin(scratch, 'alice.webm');
  await download.saveAs(webm);
  await alice.screenshot({ path: pathJoin(artifactsDir, 'recording-library.png') });
  const { streams, seconds } = probe(webm);
  assert.deepEqual(streams, ['audio:opus', 'video:vp8']);
  // No longer than the test saw the indicator on, and at least the seconds it waited while the
  // uploads grew (the recorder may start a little after the indicator on a loaded machine).
  assert.ok(seconds > 5 && seconds < recordedSeconds + 3, `recorded ${recordedSeconds.toFixed(1)} s, the WebM lasts ${seconds} s`);

  // Bob's key is not an owner: the store lists nothing for it, and the file opens for no other key.
  await bob.getByTestId('recordings-button').click();
  await bob.getByTestId('recording-library-status').filter({ hasText: '0 recording(s).' }).waitFor({ timeout: 20000 });
  const strangerKey = pathJoin(scratch, 'stranger.key');
  execFileSync(sealroomBin, ['recording', 'keygen', '--out', strangerKey]);
  const refused = spawnSync(sealroomBin, ['recording', 'decrypt', '--key', strangerKey, '--out', pathJoin(scratch, 'stranger.webm'), stored[0]], { encoding: 'utf8' });
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /not an owner/i);
});

test('recording left to moderators: no Record button for a participant', { timeout: 90000 }, async () => {
  const [alice, bob] = await meet('recording-moderators', ['Alice', 'Bob']);
  await bob.getByTestId('record-button').waitFor();
  await alice.getByTestId('people-button').click();
  await alice.getByTestId('permission-recording').selectOption('moderators');
  await bob.getByTestId('record-button').waitFor({ state: 'hidden', timeout: 20000 });
  assert.equal(await alice.getByTestId('record-button').isVisible(), true);
});
