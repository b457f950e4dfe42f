// Per-frame cost of SFrame protect/unprotect in the browser: the wasm `Keyring` (what the E2EE
// worker runs) against a bare WebCrypto AES-GCM-128 seal/open of the same bytes, in one
// dedicated Worker of one Chromium page served by `sealroom serve` (same origin, so the wasm
// loads as the app loads it). Not part of the test suite.
// Run: npm --prefix web run bench:frames   (BATCHES=9 SCALE=1 to change the amount of work)
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chromiumPath, launchBrowser, newPage, startServer, webDir } from '../tests/support.mjs';

const BATCHES = Number(process.env.BATCHES ?? 9);
const SCALE = Number(process.env.SCALE ?? 1);
// [label, frame bytes, clear prefix (VP8: 10 on key frames, 3 on delta frames), frames per batch]
const CASES = [
  ['audio (Opus)', 100, 0, 4000],
  ['720p VP8 delta', 6000, 3, 1500],
  ['720p VP8 key', 50000, 10, 200],
].map(([label, size, clear, n]) => ({ label, size, clear, n: Math.max(1, Math.round(n * SCALE)) }));

// Runs inside the worker: everything is sequential, one frame at a time, as in a TransformStream.
const workerMain = `
import init, { Keyring } from './pkg/sealroom_wasm.js';
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
self.onmessage = async ({ data: { wasmUrl, cases, batches } }) => {
  await init({ module_or_path: wasmUrl });
  const key = crypto.getRandomValues(new Uint8Array(16));
  const sender = new Keyring(); sender.installEpoch(performance.now(), 1n, key.slice(), 0);
  const receiver = new Keyring(); receiver.installEpoch(performance.now(), 1n, key.slice(), 1);
  const aesKey = await crypto.subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt', 'decrypt']);
  let ivCounter = 0;
  const nextIv = () => { const iv = new Uint8Array(12); new DataView(iv.buffer).setUint32(8, ++ivCounter); return iv; };
  const out = [];
  for (const { label, size, clear, n } of cases) {
    const frame = crypto.getRandomValues(new Uint8Array(size));
    const headerLen = sender.protect(clear, frame).length - size - 16; // SFrame header bytes
    const aad = new Uint8Array(clear + headerLen); // WebCrypto authenticates as much as SFrame does
    const alg = () => ({ name: 'AES-GCM', iv: nextIv(), additionalData: aad, tagLength: 128 });
    const body = frame.subarray(clear);
    const timed = async (fn) => { const t0 = performance.now(); await fn(); return ((performance.now() - t0) * 1000) / n; };
    const res = { label, size, headerLen, wasmProtect: [], wasmUnprotect: [], wcEncrypt: [], wcDecrypt: [] };
    for (let b = -1; b < batches; b++) { // batch -1 is the warm-up
      const wires = [];
      const p = await timed(() => { for (let i = 0; i < n; i++) wires.push(sender.protect(clear, frame)); });
      const u = await timed(() => { for (const w of wires) if (receiver.unprotect(performance.now(), w).payload.length !== size) throw new Error('bad'); });
      const sealed = [];
      const e = await timed(async () => { for (let i = 0; i < n; i++) { const a = alg(); sealed.push([a, await crypto.subtle.encrypt(a, aesKey, body)]); } });
      const d = await timed(async () => { for (const [a, c] of sealed) if ((await crypto.subtle.decrypt(a, aesKey, c)).byteLength !== body.length) throw new Error('bad'); });
      if (b >= 0) { res.wasmProtect.push(p); res.wasmUnprotect.push(u); res.wcEncrypt.push(e); res.wcDecrypt.push(d); }
    }
    for (const k of ['wasmProtect', 'wasmUnprotect', 'wcEncrypt', 'wcDecrypt']) res[k] = median(res[k]);
    out.push(res);
  }
  self.postMessage(out);
};`;

// One ES module for the worker: the bench code above with the wasm glue (web/pkg) bundled in.
const bundled = await build({
  stdin: { contents: workerMain, resolveDir: webDir, loader: 'js' },
  bundle: true, format: 'esm', write: false, logLevel: 'error',
});
const workerSource = bundled.outputFiles[0].text;

const server = await startServer();
const browser = await launchBrowser();
try {
  const page = await newPage(browser, 'bench');
  await page.goto(`${server.url}/`);
  const results = await page.evaluate(({ source, cases, batches }) => new Promise((resolve, reject) => {
    const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
    const worker = new Worker(url, { type: 'module' });
    worker.onmessage = (event) => resolve(event.data);
    worker.onerror = (event) => reject(new Error(event.message));
    worker.postMessage({ wasmUrl: new URL('/sealroom_wasm_bg.wasm', location.href).href, cases, batches });
  }), { source: workerSource, cases: CASES, batches: BATCHES });

  const version = execFileSync(chromiumPath, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  console.log(`${version}; ${BATCHES} batches after 1 warm-up batch; median µs per frame, frames in sequence in one dedicated Worker`);
  console.log('| frame | bytes | SFrame header | wasm protect | WebCrypto encrypt | ratio | wasm unprotect | WebCrypto decrypt | ratio |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  const us = (x) => (x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0));
  for (const r of results) {
    const frames = CASES.find((c) => c.label === r.label).n;
    console.log(`| ${r.label} (${frames}/batch) | ${r.size} | ${r.headerLen} B | ${us(r.wasmProtect)} µs | ${us(r.wcEncrypt)} µs | ${(r.wasmProtect / r.wcEncrypt).toFixed(2)}× | ${us(r.wasmUnprotect)} µs | ${us(r.wcDecrypt)} µs | ${(r.wasmUnprotect / r.wcDecrypt).toFixed(2)}× |`);
  }
} finally {
  await browser.close();
  await server.stop();
}
