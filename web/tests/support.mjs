// Shared by the browser tests: start the real server, launch Debian's Chromium with fake media
// devices, join a room through the UI, and read WebRTC statistics from a page. Every page opened
// with `newPage` records Content-Security-Policy violations, and every test fails if one
// occurred: the whole client is proven to run under the server's CSP (the server sends it on
// every response, the test server included).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join as pathJoin } from 'node:path';
import { createInterface } from 'node:readline';
import { after, afterEach } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const webDir = pathJoin(dirname(fileURLToPath(import.meta.url)), '..');
export const repoDir = pathJoin(webDir, '..');
export const artifactsDir = pathJoin(webDir, 'test-artifacts');

/** The wasm core (web/pkg) loaded in Node: for a test that plays the server or a rogue device. */
export async function wasmCore() {
  const wasm = await import(pathJoin(webDir, 'pkg', 'sealroom_wasm.js'));
  wasm.initSync({ module: readFileSync(pathJoin(webDir, 'pkg', 'sealroom_wasm_bg.wasm')) });
  return wasm;
}
/** A temporary directory for one test file: made now, removed after its tests. */
export function scratchDir(prefix) {
  const dir = mkdtempSync(pathJoin(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const sealroomBin = process.env.SEALROOM_BIN ?? pathJoin(repoDir, 'target/debug/sealroom');
export const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

mkdirSync(artifactsDir, { recursive: true });

/** CSP violations reported by any page (or its workers) since they were last taken. */
const cspViolations = [];

/** Takes (and clears) the violations recorded so far: for a test that provokes one on purpose. */
export function takeCspViolations() {
  return cspViolations.splice(0);
}

// Only in test files (the benchmarks share this module and run outside node:test): after each
// test, no page may have reported a violation. A failing hook fails the test it follows.
if (/\.test\.mjs$/.test(process.argv[1] ?? '')) {
  afterEach(() => {
    const seen = takeCspViolations();
    assert.deepEqual(seen, [], `Content-Security-Policy violations:\n${seen.map((v) => JSON.stringify(v)).join('\n')}`);
  });
}

/** Starts `sealroom serve` on free ports with a fresh data dir; resolves once it listens.
 *  `extraArgs` go to it; `mediaUdp` is the SFU's address (a free port); `config` is the text of
 *  a TOML config file for it; `accounts` (name -> password, or {password, role}) are made in its data dir first,
 *  with `sealroom account add` as an admin would; `web` is the web client it serves. */
export async function startServer(extraArgs = [], { mediaUdp = '127.0.0.1:0', config, accounts = {}, web = pathJoin(webDir, 'dist') } = {}) {
  const data = mkdtempSync(pathJoin(tmpdir(), 'sealroom-web-test-'));
  const configArgs = [];
  if (config !== undefined) {
    const file = pathJoin(data, 'sealroom.toml');
    writeFileSync(file, config);
    configArgs.push('--config', file);
  }
  for (const [name, account] of Object.entries(accounts)) {
    const { password, role = 'member' } = typeof account === 'string' ? { password: account } : account;
    const made = spawnSync(sealroomBin, ['account', 'add', name, '--role', role, '--data', data, ...configArgs], { input: `${password}\n`, encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`sealroom account add ${name} failed: ${made.stderr}`);
  }
  const child = spawn(sealroomBin, ['serve', '--listen', '127.0.0.1:0', '--media-udp', mediaUdp, '--data', data, '--web', web, ...configArgs, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SEALROOM_LOG: process.env.SEALROOM_LOG ?? 'warn' },
  });
  const stderr = [];
  child.stderr.on('data', (chunk) => { stderr.push(chunk); if (process.env.SEALROOM_TEST_VERBOSE) process.stderr.write(chunk); });
  const url = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(() => reject(new Error(`server did not start: ${Buffer.concat(stderr)}`)), 20000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      const match = /listening on (http:\/\/\S+)/.exec(line);
      if (match) resolve(match[1]);
      else reject(new Error(`unexpected first line from the server: ${line}`));
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${Buffer.concat(stderr)}`)));
  });
  return {
    url,
    /** The same server at `http://localhost:<port>`: passkeys need a host name for their
     *  relying party (a browser refuses an IP address), and the server takes localhost as its
     *  own for a loopback listener. */
    localUrl: url.replace('//127.0.0.1:', '//localhost:'),
    /** The server's data directory (its stores), for tests that search what it keeps. */
    data,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((resolve) => { child.once('exit', resolve); setTimeout(resolve, 3000); });
      }
      rmSync(data, { recursive: true, force: true });
    },
  };
}

export const chromiumArgs = [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required',
  // getDisplayMedia without a picker: the fake UI picks the (fake) screen.
  '--auto-select-desktop-capture-source=Entire screen',
];

/** Launches Chromium (a fresh temporary profile, as Playwright does for `launch`). */
export async function launchBrowser() {
  return chromium.launch({ executablePath: chromiumPath, headless: false, args: chromiumArgs, timeout: 30000 });
}

/** The contexts `newPage` opened and that are still open. */
const openContexts = new Set();

/** Closes every page `newPage` opened. A test's meeting left running (fake camera, encoder,
 *  decoders, the SFU's forwarding) takes CPU from the tests after it: on a 2-core machine the
 *  last test of a file otherwise runs beside every earlier test's meeting. */
export async function closePages() {
  await Promise.all([...openContexts].map((context) => context.close()));
}

/** A new page in its own context (own storage, own fake devices), logging its console on demand
 *  and recording CSP violations: the document's `securitypolicyviolation` events, listened for
 *  before any of the app's scripts run on every load, Chromium's console report of each, and the
 *  events inside workers (the frame worker's never reach the document, nor do Chromium's reports
 *  of them reach Playwright). A worker is listened to once it runs: a violation before that
 *  (loading its script or compiling its wasm) would keep it from ever encrypting, which every
 *  meeting test notices. */
export async function newPage(browser, label, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport });
  openContexts.add(context);
  context.once('close', () => openContexts.delete(context));
  await context.exposeBinding('__sealroomCspViolation', (_source, violation) => cspViolations.push({ page: label, ...violation }));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__sealroomCspViolation({
        directive: e.effectiveDirective, blocked: e.blockedURI, source: `${e.sourceFile}:${e.lineNumber}:${e.columnNumber}`, sample: e.sample,
      });
    });
  });
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error(`[${label}] page error: ${error.message}`));
  page.on('worker', (worker) => {
    // Told through the worker's console, which Playwright hands to the page's `console` event.
    worker.evaluate(() => self.addEventListener('securitypolicyviolation', (e) => {
      console.error(`Content Security Policy violation in a worker: ${JSON.stringify({ directive: e.effectiveDirective, blocked: e.blockedURI, source: `${e.sourceFile}:${e.lineNumber}` })}`);
    })).catch(() => { /* the worker ended first */ });
  });
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) cspViolations.push({ page: label, console: message.text() });
    // Chromium logs every 401 as an error; from `/api/session` it only means "signed out".
    const signedOut = message.text().includes('status of 401') && new URL(message.location().url || 'about:blank').pathname === '/api/session';
    if (process.env.SEALROOM_TEST_VERBOSE || (message.type() === 'error' && !signedOut)) console.error(`[${label}] ${message.type()}: ${message.text()}`);
  });
  return page;
}

const roomLinks = new Map();

/** The secret of the room link every page of `room` opens (one per room name, made on first
 *  use), as people do who were sent the link. A test of someone who only typed the name goes
 *  to `/<room>` itself. */
export function roomLinkSecret(room) {
  if (!roomLinks.has(room)) roomLinks.set(room, randomBytes(16).toString('base64url'));
  return roomLinks.get(room);
}

/** Opens the room's pre-join screen and enters a name; resolves once Join can be clicked (the
 *  camera and microphone are open). The page comes with the room's link, unless `typed` (only
 *  the name) or `room` carries its own fragment. */
export async function openPrejoin(page, serverUrl, room, name, typed = false) {
  const fragment = typed || room.includes('#') ? '' : `#k=${roomLinkSecret(room)}`;
  const url = `${serverUrl}/${room}${fragment}`;
  // Already there (a new meeting's page): a same-document navigation would make the app route
  // and draw the pre-join screen again while the name is typed.
  if (page.url() !== url) await page.goto(url);
  await page.getByTestId('display-name-input').fill(name);
  await page.getByTestId('join-button').waitFor({ state: 'visible' });
  await page.waitForFunction(() => !document.querySelector('[data-testid="join-button"]')?.disabled, null, { timeout: 15000 });
}

/** A loopback port free a moment ago. */
export function freePort() {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Fills the home page's sign-in form and sends it; the caller waits for the outcome it
 *  expects. */
export async function submitSignIn(page, serverUrl, username, password) {
  await page.goto(serverUrl);
  await page.getByTestId('sign-in-button').click();
  await page.getByTestId('sign-in-username').fill(username);
  await page.getByTestId('sign-in-password').fill(password);
  await page.getByTestId('sign-in-submit').click();
}

/** Signs in from the home page's form and waits until the page names the account. */
export async function signIn(page, serverUrl, username, password) {
  await submitSignIn(page, serverUrl, username, password);
  await page.getByTestId('signed-in-as').filter({ hasText: username }).waitFor();
}

/** Opens the room's pre-join screen, enters a name and joins; resolves once the meeting shows
 *  (or, with `until: 'lobby-waiting'`, once the page waits in the room's lobby). `typed`: with
 *  the room's name only, not its link. */
export async function join(page, serverUrl, room, name, { screenshot, until = 'e2ee-status', typed = false } = {}) {
  await openPrejoin(page, serverUrl, room, name, typed);
  if (screenshot) {
    await page.waitForFunction(() => (document.querySelector('.preview-video')?.videoWidth ?? 0) > 0, null, { timeout: 10000 });
    await page.waitForTimeout(300);
    await page.screenshot({ path: pathJoin(artifactsDir, screenshot) });
  }
  await page.getByTestId('join-button').click();
  await page.getByTestId(until).waitFor({ state: 'visible' });
}


/** Waits until `page` decodes `name`'s video: more than a stray key frame, so frames the E2EE
 *  worker decrypted. */
export async function decodesVideoFrom(page, name, timeout = 20000) {
  await eventually(`video from ${name} decodes`, async () => {
    const media = await remoteMedia(page);
    const frames = media.find((m) => m.name === name)?.video?.framesDecoded ?? 0;
    return frames > 10 || { ok: false, media };
  }, { timeout });
}

/** Waits until the page's E2EE status reads `encrypted`. */
export async function waitEncrypted(page, timeout = 30000) {
  await page.waitForFunction(() => document.querySelector('[data-testid="e2ee-status"]')?.textContent === 'encrypted', null, { timeout });
}

/** The app's debug state (roster, epoch, worker stats, remotes). */
export function state(page) {
  return page.evaluate(() => window.sealroomDebug.state());
}

/** inbound-rtp stats by mid. */
export function inbound(page) {
  return page.evaluate(async () => {
    const pc = window.sealroomDebug.pc();
    if (!pc) return {};
    const out = {};
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.mid) {
        out[s.mid] = { kind: s.kind, framesDecoded: s.framesDecoded ?? 0, packetsReceived: s.packetsReceived ?? 0, bytesReceived: s.bytesReceived ?? 0, totalAudioEnergy: s.totalAudioEnergy ?? 0, framesReceived: s.framesReceived ?? 0, framesDropped: s.framesDropped ?? 0, keyFramesDecoded: s.keyFramesDecoded ?? 0, frameWidth: s.frameWidth ?? 0 };
      }
    });
    return out;
  });
}

/** For each remote participant: its camera, screen and audio inbound stats, by name. */
export async function remoteMedia(page) {
  const s = await state(page);
  const stats = await inbound(page);
  return s.remotes.map((r) => ({ name: r.name, video: stats[r.mids.camera], screen: stats[r.mids.screen], audio: stats[r.mids.audio] }));
}

/** Luminance variance of what each matching <video> currently renders (0 = blank). */
export function videoVariance(page, selector) {
  return page.evaluate((selector) => [...document.querySelectorAll(selector)].map((video) => {
    const canvas = document.createElement('canvas');
    canvas.width = 160;
    canvas.height = 90;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    if (!video.videoWidth) return { name: video.closest('[data-name]')?.dataset.name, width: 0, variance: 0 };
    ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
    const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    let sum = 0; let sq = 0; const n = data.length / 4;
    for (let i = 0; i < data.length; i += 4) { const y = 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2]; sum += y; sq += y * y; }
    const mean = sum / n;
    return { name: video.closest('[data-name]')?.dataset.name, width: video.videoWidth, variance: sq / n - mean * mean };
  }), selector);
}

/** Polls `check` until it returns a truthy value, or throws with the last value. */
export async function eventually(what, check, { timeout = 30000, interval = 500 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last && (typeof last !== 'object' || last.ok !== false)) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${last instanceof Error ? last.stack : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** Pages named `names` join `room` one after another (the first is its moderator) and wait
 *  until all are in one encrypted group. */
export async function meet(browser, serverUrl, room, names) {
  const pages = await Promise.all(names.map((name) => newPage(browser, name)));
  for (const [i, page] of pages.entries()) await join(page, serverUrl, room, names[i]);
  await Promise.all(pages.map((page) => waitEncrypted(page)));
  await eventually('everyone in one group', async () => (await Promise.all(pages.map(state))).every((s) => s.roster.length === names.length));
  return pages;
}

export function securityCode(page) {
  return page.evaluate(() => window.sealroomDebug.state().code?.digits ?? null);
}

/** The People panel's row for `name` (from the MLS roster). */
export function personRow(page, name) {
  return page.locator(`[data-testid="participant-list"] [data-name="${name}"]`);
}
