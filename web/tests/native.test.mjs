// A browser and the native client (`sealroom join --synthetic`) in one room decrypt each
// other's media: the browser's worker counts frames from the native leaf, and the native
// report counts frames from the browser's name.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { eventually, join, launchBrowser, newPage, roomLinkSecret, sealroomBin, startServer, state, waitEncrypted } from './support.mjs';

let server;
let browser;
before(async () => { server = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await server?.stop(); });

test('browser and native client decrypt each other', { timeout: 90000 }, async () => {
  const room = 'browser-and-native';
  const page = await newPage(browser, 'browser');
  await join(page, server.url, room, 'browser');
  await waitEncrypted(page);

  const link = `${server.url}/${room}#k=${roomLinkSecret(room)}`;
  const native = spawn(sealroomBin, ['join', '--link', link, '--name', 'native', '--synthetic', '--duration', '15', '--report', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = [];
  const err = [];
  native.stdout.on('data', (c) => out.push(c));
  native.stderr.on('data', (c) => err.push(c));
  const exited = new Promise((resolve) => native.once('exit', resolve));

  const fromNative = await eventually('the browser decrypts the native client', async () => {
    const s = await state(page);
    const leaf = s.roster.find((m) => m.name === 'native')?.leaf;
    const counts = leaf === undefined ? undefined : s.worker?.decrypted?.[leaf];
    return counts && counts.audio > 0 && counts.video > 0 ? counts : { ok: false, s };
  }, { timeout: 30000 });

  const code = await exited;
  assert.equal(code, 0, `native client failed: ${Buffer.concat(err)}`);
  const report = JSON.parse(Buffer.concat(out).toString());
  console.log('browser decrypted from native:', JSON.stringify(fromNative));
  console.log('native received:', JSON.stringify(report.received), 'failures:', JSON.stringify(report.decrypt_failures));
  const fromBrowser = report.received.browser;
  assert.ok(fromBrowser, `native report names the browser: ${JSON.stringify(report.received)}`);
  assert.ok(fromBrowser.audio_frames > 0 && fromBrowser.video_frames > 0, `native decrypted the browser's audio and video: ${JSON.stringify(fromBrowser)}`);
  assert.ok(report.roster.some((m) => m.name === 'browser'));
});
