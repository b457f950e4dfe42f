// The code the browser runs (review finding H2). A server that changes the page's script, the
// wasm module or the frame worker's script under the page it served gets nothing run: the build
// wrote their Subresource Integrity hashes into index.html and into the script, and the browser
// refuses other bytes.
// The tampered files still work (code appended, a custom section added), as an attacker's
// would, so without those hashes the page would start on them. The security panel shows the
// bundle hash that `sealroom verify-web` computes over the files the server serves.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as pathJoin } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { closePages, eventually, join, launchBrowser, newPage, sealroomBin, startServer, webDir } from './support.mjs';

const dist = pathJoin(webDir, 'dist');

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });
afterEach(closePages);

/** Serves a copy of web/dist whose `file` is `change(bytes)` while `use(server)` runs. */
async function withTamperedServer(file, change, use) {
  const tampered = mkdtempSync(pathJoin(tmpdir(), 'sealroom-tampered-'));
  cpSync(dist, tampered, { recursive: true });
  writeFileSync(pathJoin(tampered, file), change(readFileSync(pathJoin(tampered, file))));
  const server = await startServer([], { web: tampered });
  try {
    await use(server);
  } finally {
    await server.stop();
    rmSync(tampered, { recursive: true, force: true });
  }
}

/** Resolves once the page logs that it blocked `file` for its integrity hash. */
function blockedForIntegrity(page, file) {
  return page.waitForEvent('console', {
    predicate: (message) => message.text().includes("Failed to find a valid digest in the 'integrity' attribute") && message.text().includes(`/${file}'`),
    timeout: 20000,
  });
}

test('a wasm module whose bytes differ from its integrity hash is refused: the page does not start', { timeout: 60000 }, async () => {
  // A custom section (id 0, named "tampered") leaves a module that still compiles and runs.
  const customSection = Buffer.concat([Buffer.from([0, 10, 8]), Buffer.from('tampered'), Buffer.from('x')]);
  await withTamperedServer('sealroom_wasm_bg.wasm', (wasm) => Buffer.concat([wasm, customSection]), async (server) => {
    const page = await newPage(browser, 'tampered-wasm');
    const blocked = blockedForIntegrity(page, 'sealroom_wasm_bg.wasm');
    await page.goto(`${server.url}/integrity-room`);
    await blocked;
    await page.getByRole('heading', { name: 'Sealroom could not start' }).waitFor();
    assert.equal(await page.getByTestId('join-button').count(), 0, 'no way to join');
  });
});

test('a page script whose bytes differ from its integrity hash never runs', { timeout: 60000 }, async () => {
  await withTamperedServer('app.js', (script) => Buffer.concat([script, Buffer.from('\nwindow.tamperedScriptRan = true;\n')]), async (server) => {
    const page = await newPage(browser, 'tampered-script');
    const blocked = blockedForIntegrity(page, 'app.js');
    await page.goto(`${server.url}/integrity-room`);
    await blocked;
    assert.equal(await page.evaluate(() => window.tamperedScriptRan), undefined, 'the tampered script did not run');
    assert.equal(await page.locator('.boot').textContent(), 'Loading Sealroom…', 'nothing of the app ran');
  });
});

test('a frame worker script whose bytes differ from its integrity hash never runs: the page joins no group and sends nothing', { timeout: 60000 }, async () => {
  await withTamperedServer('e2ee-worker.js', (script) => Buffer.concat([script, Buffer.from('\nself.tampered = true;\n')]), async (server) => {
    const page = await newPage(browser, 'tampered-worker');
    const blocked = blockedForIntegrity(page, 'e2ee-worker.js');
    await join(page, server.url, 'integrity-room', 'Alice');
    await blocked;
    const seen = await eventually('the page says the worker failed', async () => {
      const s = await page.evaluate(() => ({ errors: window.sealroomDebug.meeting.errors, epoch: window.sealroomDebug.meeting.epoch, pc: window.sealroomDebug.pc() }));
      return s.errors.some((e) => e.includes('joined')) ? s : { ok: false, errors: s.errors };
    });
    assert.equal(seen.epoch, null, 'no group: no key for a worker it could not check');
    assert.equal(seen.pc, null, 'no media connection');
    assert.equal(page.workers().length, 0, 'no worker runs');
  });
});

test('the security panel shows the bundle hash sealroom verify-web computes for the served files', { timeout: 60000 }, async () => {
  const server = await startServer();
  try {
    const page = await newPage(browser, 'panel');
    await join(page, server.url, 'bundle-hash-room', 'Alice');
    await page.getByTestId('security-button').click();
    const shown = page.getByTestId('bundle-hash');
    await shown.filter({ hasText: /^[0-9a-f]{64}$/ }).waitFor();

    const verified = spawnSync(sealroomBin, ['verify-web', '--server', server.url, '--web', dist], { encoding: 'utf8' });
    assert.equal(verified.status, 0, `${verified.stdout}${verified.stderr}`);
    assert.match(verified.stdout, /^matches$/m);
    const [, served] = /^served web bundle\s+([0-9a-f]{64})$/m.exec(verified.stdout) ?? [];
    assert.equal(await shown.textContent(), served, 'the panel shows the hash verify-web computed over the files the server serves');
  } finally {
    await server.stop();
  }
});
