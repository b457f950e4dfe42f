// A file from one Chromium page to another through `sealroom serve` on loopback, end-to-end
// encrypted as the chat panel sends it (read, encrypt, upload in 8 MiB parts; download, decrypt,
// write to the origin private file system, SHA-256 checked), beside the same bytes sent with no
// encryption in the same pages (the same parts uploaded, the same download written to the
// private file system). Prints MB/s each way and the peak resident memory of the Chromium
// renderer processes while it runs. Not part of the test suite.
// Run: npm --prefix web run bench:files   (SIZE_MB=1000 for a 1 GB file; SEALROOM_BIN=...),
// after a test build of the page (`SEALROOM_TEST_HOOKS=1 scripts/build-web`), whose handle it reads.
import './server-binary.mjs';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as pathJoin } from 'node:path';
import { closePages, launchBrowser, meet, startServer } from '../tests/support.mjs';

const SIZE = Number(process.env.SIZE_MB ?? 200) * 1e6;
const scratch = mkdtempSync(pathJoin(tmpdir(), 'sealroom-file-bench-'));
const path = pathJoin(scratch, 'bench.bin');
execFileSync('sh', ['-c', `head -c ${SIZE} /dev/urandom > "${path}"`]);

/** The largest resident set of any Chromium renderer, sampled every 100 ms while `run` runs. */
async function withPeakRenderer(run) {
  let peak = 0;
  const sample = () => {
    const out = execFileSync('ps', ['-C', 'chromium', '-o', 'rss=,args='], { encoding: 'utf8' });
    for (const line of out.split('\n').filter((l) => l.includes('--type=renderer'))) peak = Math.max(peak, Number(line.trim().split(/\s+/)[0]) * 1024);
  };
  const timer = setInterval(sample, 100);
  sample();
  try {
    return { ...(await run()), peakRendererMB: peak / 1e6 };
  } finally {
    clearInterval(timer);
  }
}

const fileState = (page, wanted) => page.waitForFunction((s) => window.sealroomDebug.state().files.some((f) => f.state === s), wanted, { polling: 50, timeout: 600000 });

async function encrypted(alice, bob) {
  await alice.getByTestId('chat-button').click();
  await bob.getByTestId('chat-button').click();
  const sent = await withPeakRenderer(async () => {
    const t0 = Date.now();
    await alice.getByTestId('file-picker').setInputFiles(path);
    await fileState(alice, 'sent');
    return { seconds: (Date.now() - t0) / 1000 };
  });
  await fileState(bob, 'offered');
  const received = await withPeakRenderer(async () => {
    const t0 = Date.now();
    await bob.getByTestId('file-download').click();
    await fileState(bob, 'received');
    return { seconds: (Date.now() - t0) / 1000 };
  });
  return { sent, received };
}

/** The same parts up, and the same download into the private file system, with no encryption. */
async function plain(alice, bob) {
  await alice.evaluate(() => document.body.append(Object.assign(document.createElement('input'), { type: 'file', id: 'plain-bench' })));
  await alice.locator('#plain-bench').setInputFiles(path);
  const sent = await withPeakRenderer(() => alice.evaluate(async () => {
    const file = document.getElementById('plain-bench').files[0];
    const auth = { Authorization: `Bearer ${window.sealroomDebug.meeting.blobToken}` };
    const part = 8 * 1024 * 1024;
    const t0 = performance.now();
    let id = null;
    for (let at = 0; at < file.size; at += part) {
      const body = file.slice(at, at + part);
      const response = id === null
        ? await fetch('/api/blobs', { method: 'POST', headers: { ...auth, 'Sealroom-Blob-Size': String(file.size) }, body })
        : await fetch(`/api/blobs/${id}?offset=${at}`, { method: 'PUT', headers: auth, body });
      if (!response.ok) throw new Error(`upload: ${response.status}`);
      if (id === null) id = (await response.json()).id;
    }
    return { seconds: (performance.now() - t0) / 1000, id };
  }));
  const received = await withPeakRenderer(() => bob.evaluate(async (id) => {
    const t0 = performance.now();
    const response = await fetch(`/api/blobs/${id}`, { headers: { Authorization: `Bearer ${window.sealroomDebug.meeting.blobToken}` } });
    const dir = await navigator.storage.getDirectory();
    const handle = await dir.getFileHandle('plain-bench', { create: true });
    const writable = await handle.createWritable();
    const reader = response.body.getReader();
    for (let read = await reader.read(); !read.done; read = await reader.read()) await writable.write(read.value);
    await writable.close();
    await dir.removeEntry('plain-bench');
    return { seconds: (performance.now() - t0) / 1000 };
  }, sent.id));
  return { sent, received };
}

const server = await startServer([], { config: `[files]\nmax_blob_bytes = ${4 * SIZE + 1e6}\nroom_quota_bytes = ${8 * SIZE + 1e6}\nserver_quota_bytes = ${8 * SIZE + 1e6}\n` });
const browser = await launchBrowser();
try {
  const rows = [];
  for (const [label, run] of [['no encryption', plain], ['end-to-end encrypted', encrypted]]) {
    const [alice, bob] = await meet(browser, server.url, `file-bench-${Date.now()}`, ['Alice', 'Bob']);
    const { sent, received } = await run(alice, bob);
    rows.push([label, SIZE / 1e6 / sent.seconds, SIZE / 1e6 / received.seconds, sent.peakRendererMB, received.peakRendererMB]);
    await closePages();
  }
  console.log(`${SIZE / 1e6} MB file, Chromium page to Chromium page through sealroom serve on loopback`);
  console.log('| | send (MB/s) | receive (MB/s) | peak renderer RSS, sending (MB) | receiving (MB) |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const [label, up, down, memUp, memDown] of rows) console.log(`| ${label} | ${up.toFixed(1)} | ${down.toFixed(1)} | ${memUp.toFixed(0)} | ${memDown.toFixed(0)} |`);
} finally {
  await browser.close();
  await server.stop();
  rmSync(scratch, { recursive: true, force: true });
}
