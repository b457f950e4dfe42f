// Bundles the browser client into dist/: the page (src/main.ts -> app.js), the frame-transform
// worker (src/e2ee/worker.ts -> e2ee-worker.js), the static files and the e2ee core's wasm
// (generated into pkg/ by `cargo run --release --locked -p sealroom-web-build`).
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
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

const common = {
  bundle: true,
  format: 'esm',
  target: 'es2022',
  sourcemap: true,
  minify: process.env.SEALROOM_WEB_MINIFY !== '0',
  logLevel: 'warning',
  tsconfig: join(root, 'tsconfig.json'),
  // The tests' handle on the meeting (`window.sealroomDebug`) exists only in a test build.
  define: { SEALROOM_TEST_HOOKS: process.env.SEALROOM_TEST_HOOKS === '1' ? 'true' : 'false' },
};
await build({ ...common, entryPoints: [join(root, 'src/main.ts')], outfile: join(dist, 'app.js') });
await build({ ...common, entryPoints: [join(root, 'src/e2ee/worker.ts')], outfile: join(dist, 'e2ee-worker.js') });
for (const file of ['index.html', 'styles.css']) copyFileSync(join(root, 'static', file), join(dist, file));
copyFileSync(wasm, join(dist, 'sealroom_wasm_bg.wasm'));
console.log(`build: ${dist} ready`);
