// Which `sealroom` the browser benchmarks start: SEALROOM_BIN if set, else the release build if
// present and new enough to serve the web client, else the debug build. Imported before
// tests/support.mjs, which reads SEALROOM_BIN once.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join as pathJoin } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoDir = fileURLToPath(new URL('../..', import.meta.url));
const release = pathJoin(repoDir, 'target/release/sealroom');
const servesWeb = (bin) => existsSync(bin) && spawnSync(bin, ['serve', '--help'], { encoding: 'utf8' }).stdout.includes('--web');
if (!process.env.SEALROOM_BIN && existsSync(release) && !servesWeb(release)) console.log(`${release} has no \`serve --web\` (stale build): using the debug build`);
process.env.SEALROOM_BIN ??= servesWeb(release) ? release : pathJoin(repoDir, 'target/debug/sealroom');
console.log(`server: ${process.env.SEALROOM_BIN} (${process.env.SEALROOM_BIN.includes('/release/') ? 'release' : 'debug'} build)`);
