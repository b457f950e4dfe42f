// Time from clicking "Join" to the first decrypted remote frame, in headless Chromium: one
// participant waits in a room; N times (JOINS, default 10) a second one opens the pre-join
// screen in a fresh browser context, clicks `join-button`, and we read when its E2EE worker
// decrypted its first frame from the other (`firstDecryptedAtMs`, Unix ms, from the worker's
// stats through `window.sealroomDebug`), then it leaves. Not part of the test suite.
// Run: npm --prefix web run bench:join   (JOINS=20; SEALROOM_BIN=... to pick the server binary),
// after a test build of the page (`SEALROOM_TEST_HOOKS=1 scripts/build-web`), whose handle it reads.
import './server-binary.mjs';
import { eventually, join, launchBrowser, newPage, startServer, state, waitEncrypted } from '../tests/support.mjs';

const JOINS = Number(process.env.JOINS ?? 10);
const room = `join-time-bench-${Date.now()}`;

// Every join comes from 127.0.0.1: lift the server's join rate limits for the run.
const server = await startServer([], { config: '[access]\njoin_per_address = { burst = 1000, per_minute = 6000 }\njoin_per_room = { burst = 1000, per_minute = 6000 }\n' });
const browser = await launchBrowser();
const samples = [];
try {
  const host = await newPage(browser, 'host');
  await join(host, server.url, room, 'Host');
  await waitEncrypted(host);
  for (let i = 0; i < JOINS; i++) {
    // Host alone again: every join meets the same room.
    await eventually('host alone', async () => (await state(host)).roster.length === 1, { interval: 100 });
    const page = await newPage(browser, `guest${i}`);
    await page.goto(`${server.url}/${room}`);
    await page.getByTestId('display-name-input').fill(`Guest ${i}`);
    await page.waitForFunction(() => !document.querySelector('[data-testid="join-button"]')?.disabled, null, { timeout: 15000 });
    // The click and its timestamp in the page itself (the worker's clock is the same Unix clock).
    const clickedAt = await page.evaluate(() => { const t = Date.now(); document.querySelector('[data-testid="join-button"]').click(); return t; });
    const first = await eventually('first decrypted frame', async () => (await state(page))?.worker?.firstDecryptedAtMs, { timeout: 30000, interval: 100 });
    const ms = first - clickedAt;
    samples.push(ms);
    console.log(`join ${i + 1}/${JOINS}: ${ms.toFixed(0)} ms`);
    await page.getByTestId('leave-button').click();
    await page.context().close();
  }
} finally {
  await browser.close();
  await server.stop();
}

const sorted = [...samples].sort((a, b) => a - b);
const pct = (p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
console.log(`click → first decrypted remote frame over ${sorted.length} joins: p50 ${pct(50).toFixed(0)} ms, p95 ${pct(95).toFixed(0)} ms, min ${sorted[0].toFixed(0)} ms, max ${sorted.at(-1).toFixed(0)} ms`);
