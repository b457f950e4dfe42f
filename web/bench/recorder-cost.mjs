// What recording costs the recording browser: Chromium pages in one meeting (PAGES, default 2); the CPU time
// of every Chromium process is summed over a window without recording, then over a window of
// the same length while Alice records (compositing the videos she receives and her own, mixing
// the voices, MediaRecorder's VP8/Opus encoding, the encryption and the upload). The difference
// is the recorder's cost. Not part of the test suite.
// Run: npm --prefix web run bench:recorder   (SECONDS=20 PAGES=3; SEALROOM_BIN=...), after a test build of
// the page (`SEALROOM_TEST_HOOKS=1 scripts/build-web`), whose handle it reads.
import './server-binary.mjs';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { eventually, launchBrowser, meet, startServer, state } from '../tests/support.mjs';

const SECONDS = Number(process.env.SECONDS ?? 20);
const NAMES = ['Alice', 'Bob', 'Carol', 'Dave'].slice(0, Number(process.env.PAGES ?? 2));

/** CPU seconds used so far by every Chromium process (utime + stime from /proc, in the
 *  kernel's 1/100 s ticks). */
function chromiumCpuSeconds() {
  const pids = execFileSync('pgrep', ['chromium'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process ended between pgrep and the read.
    }
  }
  return ticks / 100;
}

async function cpuOver(seconds) {
  const before = chromiumCpuSeconds();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  return chromiumCpuSeconds() - before;
}

const server = await startServer();
const browser = await launchBrowser();
try {
  const [alice] = await meet(browser, server.url, `recorder-bench-${Date.now()}`, NAMES);
  // Settled: every page decodes the others before the first window.
  await new Promise((resolve) => setTimeout(resolve, 5000));
  const idle = await cpuOver(SECONDS);
  await alice.getByTestId('record-button').click();
  await eventually('recording', async () => (await state(alice)).recorder.state === 'recording');
  const recording = await cpuOver(SECONDS);
  const uploaded = (await state(alice)).recorder.uploaded;
  await alice.getByTestId('record-button').click();
  await eventually('saved', async () => (await state(alice)).recorder.state === 'idle', { timeout: 60000 });
  const { error } = (await state(alice)).recorder;
  if (error) throw new Error(`the recording failed: ${error}`);
  const extra = recording - idle;
  const people = NAMES.length;
  console.log(`${people} pages, ${SECONDS} s windows: all Chromium processes used ${idle.toFixed(1)} s of CPU without recording, ${recording.toFixed(1)} s while Alice recorded (${(uploaded / 1e6).toFixed(1)} MB uploaded)`);
  console.log(`recorder: ${extra.toFixed(1)} s of CPU per ${SECONDS} s = ${(100 * extra / SECONDS).toFixed(0)} % of a core; ${(100 * extra / SECONDS / people).toFixed(0)} % per recorded person (${people} videos and ${people} voices composed into one stream)`);
} finally {
  await browser.close();
  await server.stop();
}
