// The page as it ships gives page scripts no handle on the meeting: `window.sealroomDebug`
// (the meeting object, and through it the MLS core and the moderator key) is compiled only
// into a test build, which the browser tests run against (review finding M6).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as pathJoin } from 'node:path';
import { test } from 'node:test';
import { webDir } from './support.mjs';

/** The page script of a build into a fresh directory, with `env` added. */
function buildPage(env) {
  const dist = mkdtempSync(pathJoin(tmpdir(), 'sealroom-bundle-'));
  try {
    const built = spawnSync(process.execPath, ['build.mjs'], { cwd: webDir, env: { ...process.env, SEALROOM_TEST_HOOKS: '', ...env, SEALROOM_WEB_DIST: dist }, encoding: 'utf8' });
    assert.equal(built.status, 0, built.stderr);
    return readFileSync(pathJoin(dist, 'app.js'), 'utf8');
  } finally {
    rmSync(dist, { recursive: true, force: true });
  }
}

test('the shipped page has no debug handle; only a test build has', () => {
  assert.ok(!buildPage({}).includes('sealroomDebug'), 'the production bundle never sets window.sealroomDebug');
  assert.ok(buildPage({ SEALROOM_TEST_HOOKS: '1' }).includes('sealroomDebug'), 'the test build does');
});
