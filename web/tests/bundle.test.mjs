// What the build ships. The page as it ships gives page scripts no handle on the meeting:
// `window.sealroomDebug` (the meeting object, and through it the MLS core and the moderator
// key) is compiled only into a test build, which the browser tests run against (review finding
// M6). And the build is reproducible: the bundle hash names the sources, wherever and however
// often they are built (review finding H2).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join as pathJoin } from 'node:path';
import { test } from 'node:test';
import { repoDir, webDir } from './support.mjs';

/** Builds the web client into `subdir` of a fresh directory, with `env` added, and hands the
 *  build's directory to `use`; removes it afterwards. */
function withBuild(env, use, subdir = '.') {
  const top = mkdtempSync(pathJoin(tmpdir(), 'sealroom-bundle-'));
  const dist = pathJoin(top, subdir);
  try {
    const built = spawnSync(process.execPath, ['build.mjs'], { cwd: webDir, env: { ...process.env, SEALROOM_TEST_HOOKS: '', ...env, SEALROOM_WEB_DIST: dist }, encoding: 'utf8' });
    assert.equal(built.status, 0, built.stderr);
    return use(dist);
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
}

/** Every file of a build, by name. */
function files(dist) {
  return new Map(readdirSync(dist).sort().map((name) => [name, readFileSync(pathJoin(dist, name))]));
}

test('the shipped page has no debug handle; only a test build has', () => {
  const page = (env) => withBuild(env, (dist) => readFileSync(pathJoin(dist, 'app.js'), 'utf8'));
  assert.ok(!page({}).includes('sealroomDebug'), 'the production bundle never sets window.sealroomDebug');
  assert.ok(page({ SEALROOM_TEST_HOOKS: '1' }).includes('sealroomDebug'), 'the test build does');
});

// Byte-identical files make the same manifest, so the same bundle hash. The wasm module comes
// from web/pkg (cargo's build is cached, not redone here); what would tie it to this machine,
// an absolute path, is looked for in it too.
test('two builds into different directories are the same byte for byte, with no path of this machine in them', () => {
  const first = withBuild({}, files);
  const second = withBuild({}, files, 'deeper/down');
  assert.deepEqual([...second.keys()], [...first.keys()]);
  assert.ok(first.has('sealroom_wasm_bg.wasm') && first.has('app.js.map'));
  for (const [name, bytes] of first) {
    assert.ok(bytes.equals(second.get(name)), `${name} differs between two builds`);
    for (const local of [repoDir, `${homedir()}/`]) assert.ok(!bytes.includes(local), `${name} holds ${local}`);
  }
});
