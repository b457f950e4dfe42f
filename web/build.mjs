// Bundles the browser client into dist/: the page (src/main.ts -> app.js), the frame-transform
// worker (src/e2ee/worker.ts -> e2ee-worker.js), the static files and the e2ee core's wasm
// (generated into pkg/ by `cargo run --release --locked -p sealroom-web-build`).
//
// The output depends on the sources alone (not on where it is written or when): two builds of
// one tree are the same byte for byte, so a bundle hash names the sources it came from
// (docs/SECURITY-MODEL.md, H2). index.html's scripts and stylesheets carry Subresource
// Integrity hashes, and so does every fetch of the wasm module (SEALROOM_WASM_INTEGRITY) and
// of the frame worker's script (SEALROOM_WORKER_INTEGRITY).
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const dist = process.env.SEALROOM_WEB_DIST ?? join(root, 'dist');
const wasm = join(root, 'pkg', 'sealroom_wasm_bg.wasm');
if (!existsSync(wasm)) {
  console.error(`build: ${wasm} is missing; run \`cargo run --release --locked -p sealroom-web-build\` first`);
  process.exit(1);
}
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

/** A Subresource Integrity value for `file`'s bytes. */
function integrity(file) {
  return `sha384-${createHash('sha384').update(readFileSync(file)).digest('base64')}`;
}

const common = {
  bundle: true,
  format: 'esm',
  target: 'es2022',
  sourcemap: true,
  minify: process.env.SEALROOM_WEB_MINIFY !== '0',
  logLevel: 'warning',
  tsconfig: join(root, 'tsconfig.json'),
  define: {
    // The tests' handle on the meeting (`window.sealroomDebug`) exists only in a test build.
    SEALROOM_TEST_HOOKS: process.env.SEALROOM_TEST_HOOKS === '1' ? 'true' : 'false',
    SEALROOM_WASM_INTEGRITY: JSON.stringify(integrity(wasm)),
  },
};

/** Bundles `entry` into dist/`name`, with a source map whose sources are named relative to
 *  web/ (esbuild names them relative to the output directory, which would make the bundle
 *  depend on where it was built). */
async function bundle(entry, name, define = {}) {
  await build({ ...common, define: { ...common.define, ...define }, entryPoints: [join(root, entry)], outfile: join(dist, name) });
  const mapFile = join(dist, `${name}.map`);
  const map = JSON.parse(readFileSync(mapFile, 'utf8'));
  map.sources = map.sources.map((source) => relative(root, resolve(dist, source)).split(sep).join('/'));
  writeFileSync(mapFile, JSON.stringify(map));
}

/** index.html with the integrity hash of each script and stylesheet it loads from this server:
 *  the browser runs or applies none whose bytes differ from what this build wrote. */
function pageWithIntegrity() {
  const page = readFileSync(join(root, 'static', 'index.html'), 'utf8').replace(
    /<(?:script|link)\b[^>]*?\s(?:src|href)="\/([^"]+)"[^>]*>/g,
    (tag, file) => tag.replace(/>$/, ` integrity="${integrity(join(dist, file))}">`),
  );
  const unchecked = page.match(/<(?:script|link rel="stylesheet")\b(?![^>]*\sintegrity=)[^>]*>/g);
  if (unchecked) throw new Error(`build: index.html loads without an integrity hash: ${unchecked.join(' ')}`);
  return page;
}

// The worker first: the page fetches its script with the hash compiled into app.js.
await bundle('src/e2ee/worker.ts', 'e2ee-worker.js');
await bundle('src/main.ts', 'app.js', { SEALROOM_WORKER_INTEGRITY: JSON.stringify(integrity(join(dist, 'e2ee-worker.js'))) });
copyFileSync(join(root, 'static', 'styles.css'), join(dist, 'styles.css'));
copyFileSync(wasm, join(dist, 'sealroom_wasm_bg.wasm'));
writeFileSync(join(dist, 'index.html'), pageWithIntegrity());
console.log(`build: ${dist} ready`);
