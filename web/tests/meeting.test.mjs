// Three browsers in one room: each decodes the other two's video (frames rising, a rendered
// frame that is not blank), hears their audio, and shows the same security code; when one
// leaves, the code changes for the other two. Saves screenshots of the pre-join screen and of
// the meeting (laptop and phone sizes) into web/test-artifacts/. And the CSP guard every test
// runs under (support.mjs) does see a violation.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { join as pathJoin } from 'node:path';
import { artifactsDir, closePages, decodesVideoFrom, eventually, join, launchBrowser, newPage, personRow, remoteMedia, securityCode, startServer, state, takeCspViolations, videoVariance, waitEncrypted } from './support.mjs';

let server;
let browser;
before(async () => { server = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await server?.stop(); });
// Each test's meeting ends with it: live pages left open would load the next test's machine.
afterEach(closePages);

test('three browsers see, hear and verify each other', { timeout: 150000 }, async () => {
  const room = 'three-browsers-test';
  const names = ['Alice', 'Bob', 'Carol'];
  const pages = [];
  for (const name of names) pages.push(await newPage(browser, name));
  await join(pages[0], server.url, room, 'Alice', { screenshot: 'prejoin.png' });
  await Promise.all([join(pages[1], server.url, room, 'Bob'), join(pages[2], server.url, room, 'Carol')]);
  await Promise.all(pages.map((p) => waitEncrypted(p, 40000)));

  for (const [i, page] of pages.entries()) {
    const others = names.filter((_, j) => j !== i).sort();
    // Two remote tiles, named after the others.
    await eventually(`${names[i]} shows two remote tiles`, async () => {
      const tiles = await page.$$eval('[data-testid="participant-tile"][data-self="false"]', (els) => els.map((e) => e.dataset.name).sort());
      return JSON.stringify(tiles) === JSON.stringify(others);
    });
    // Video decoded and rising, audio energy, for both others.
    const first = await eventually(`${names[i]} decodes both others`, async () => {
      const media = await remoteMedia(page);
      const ok = media.length === 2 && media.every((m) => m.video?.framesDecoded > 0 && m.audio?.totalAudioEnergy > 0);
      return ok ? media : { ok: false, media };
    }, { timeout: 40000 });
    await page.waitForTimeout(1500);
    const second = await remoteMedia(page);
    for (const m of first) {
      const later = second.find((x) => x.name === m.name);
      assert.ok(later.video.framesDecoded > m.video.framesDecoded, `${names[i]}: video from ${m.name} keeps decoding (${m.video.framesDecoded} -> ${later.video.framesDecoded})`);
      assert.ok(later.audio.totalAudioEnergy > 0, `${names[i]} hears ${m.name}`);
    }
    // What the tiles render is a real picture, not a blank frame.
    const rendered = await eventually(`${names[i]} renders both others`, async () => {
      const v = await videoVariance(page, '[data-testid="participant-tile"][data-self="false"] video');
      return v.length === 2 && v.every((x) => x.width > 0 && x.variance > 20) ? v : { ok: false, v };
    }, { timeout: 15000 });
    console.log(`${names[i]} renders`, JSON.stringify(rendered));
    // The frames went through the E2EE worker: decrypted from two other leaves.
    const s = await state(page);
    const leaves = Object.entries(s.worker.decrypted).filter(([leaf, c]) => Number(leaf) !== s.ownLeaf && c.video > 0 && c.audio > 0);
    assert.equal(leaves.length, 2, `${names[i]} decrypted media from two leaves: ${JSON.stringify(s.worker)}`);
  }

  // Everyone shows the same security code, in the security panel too.
  for (const page of pages) await page.getByTestId('security-button').click();
  const shown = await Promise.all(pages.map((p) => p.getByTestId('security-code').textContent()));
  const codes = await Promise.all(pages.map(securityCode));
  assert.equal(new Set(codes).size, 1, `same code everywhere: ${codes}`);
  assert.deepEqual(shown, codes, 'the security panel shows the code');

  await pages[0].screenshot({ path: pathJoin(artifactsDir, 'meeting-security-panel.png') });
  for (const page of pages) await page.getByTestId('security-button').click();
  await pages[0].waitForTimeout(300);
  await pages[0].screenshot({ path: pathJoin(artifactsDir, 'meeting-three.png') });
  await pages[1].setViewportSize({ width: 390, height: 844 });
  await pages[1].waitForTimeout(500);
  await pages[1].screenshot({ path: pathJoin(artifactsDir, 'meeting-three-phone.png') });

  // Carol leaves: the others move to a new epoch with a new, shared code.
  const before = codes[0];
  await pages[2].getByTestId('leave-button').click();
  await eventually('a new code on both remaining pages', async () => {
    const [a, b] = await Promise.all([securityCode(pages[0]), securityCode(pages[1])]);
    return a && a === b && a !== before;
  }, { timeout: 30000 });
  for (const page of pages.slice(0, 2)) {
    const s = await state(page);
    assert.deepEqual(s.roster.map((m) => m.name).sort(), ['Alice', 'Bob']);
    await eventually('one remote tile left', async () => (await page.$$('[data-testid="participant-tile"][data-self="false"]')).length === 1);
  }
});

test('the CSP guard sees a violation: an injected inline script is refused and reported', { timeout: 30000 }, async () => {
  const page = await newPage(browser, 'CSP');
  await page.goto(server.url);
  await page.getByTestId('create-room-button').waitFor();
  assert.deepEqual(takeCspViolations(), [], 'the app itself violates nothing');
  await page.evaluate(() => {
    const script = document.createElement('script');
    script.textContent = 'window.injected = true';
    document.body.append(script);
  });
  // Taken here, so the guard after this test finds none left.
  const seen = [];
  await eventually('the violation is recorded', async () => {
    seen.push(...takeCspViolations());
    return seen.some((v) => v.directive === 'script-src-elem') || { ok: false, seen };
  }, { timeout: 5000, interval: 100 });
  await page.waitForTimeout(300);
  seen.push(...takeCspViolations());
  assert.ok(seen.some((v) => /Content Security Policy/.test(v.console ?? '')), 'Chromium reported it too');
  assert.equal(await page.evaluate(() => window.injected), undefined, 'the script did not run');
});

test('a worker that cannot install an epoch stops sending and the page says so', { timeout: 90000 }, async () => {
  const room = 'worker-error-test';
  const [alice, bob] = await Promise.all(['Alice', 'Bob'].map((name) => newPage(browser, name)));
  await join(alice, server.url, room, 'Alice');
  await join(bob, server.url, room, 'Bob');
  await Promise.all([waitEncrypted(alice), waitEncrypted(bob)]);
  const sent = (s) => s.worker.sent.audio + s.worker.sent.video;
  await eventually('Alice sends', async () => sent(await state(alice)) > 0);

  // A key of the wrong length for the next epoch: the worker cannot install it.
  await alice.evaluate(() => {
    const { meeting } = window.sealroomDebug;
    meeting.worker.postMessage({ type: 'epoch', epoch: BigInt(meeting.epoch.epoch) + 1n, baseKey: new Uint8Array(3), ownLeaf: meeting.epoch.ownLeaf, fresh: false });
  });
  await eventually('Alice is warned and no longer shown as encrypted', async () => {
    const s = await state(alice);
    return (s.e2ee === 'waiting' && s.warnings.some((w) => w.includes('could not install'))) || { ok: false, e2ee: s.e2ee, warnings: s.warnings };
  });
  // Her worker holds no key any more: what it counted as sent stops growing.
  const stopped = sent(await state(alice));
  await eventually('the worker reports no epoch', async () => (await state(alice)).worker.epoch === undefined);
  await alice.waitForTimeout(1200);
  assert.equal(sent(await state(alice)), stopped, 'nothing sent after the failed install');
});

test("a track the server relabels as another member's shows nothing of the true sender under the wrong name", { timeout: 120000 }, async () => {
  const room = 'relabel-test';
  const names = ['Alice', 'Bob', 'Carol'];
  const [alice, bob, carol] = await Promise.all(names.map((name) => newPage(browser, name)));
  await join(alice, server.url, room, 'Alice');
  await Promise.all([join(bob, server.url, room, 'Bob'), join(carol, server.url, room, 'Carol')]);
  await Promise.all([alice, bob, carol].map((p) => waitEncrypted(p, 40000)));
  await Promise.all([decodesVideoFrom(bob, 'Alice'), decodesVideoFrom(bob, 'Carol')]);
  const leaves = Object.fromEntries((await state(bob)).roster.map((m) => [m.name, m.leaf]));
  const shown = async () => {
    const s = await state(bob);
    const video = (name) => s.worker.decrypted[leaves[name]]?.video ?? 0;
    return { alice: video('Alice'), carol: video('Carol'), refused: s.worker.failures.unexpected_sender ?? 0 };
  };

  // The server tells Bob that Alice's participant (and so her tracks) holds Carol's key, and
  // Carol's holds Alice's: each track now carries frames of a member other than the one it is
  // labelled with.
  const swap = (list) => list.map((p) => ({ ...p, fingerprint: list.find((o) => o.display_name === (p.display_name === 'Alice' ? 'Carol' : p.display_name === 'Carol' ? 'Alice' : p.display_name)).fingerprint }));
  const truth = await bob.evaluate(() => window.sealroomDebug.meeting.serverParticipants);
  await bob.evaluate((participants) => window.sealroomDebug.meeting.handle({ type: 'participants', participants }), swap(truth));
  const before = await eventually('Bob drops the relabelled frames', async () => {
    const now = await shown();
    return now.refused > 0 ? now : { ok: false, now };
  });
  await bob.waitForTimeout(1500);
  const later = await shown();
  assert.ok(later.refused > before.refused, `frames keep being refused: ${JSON.stringify([before, later])}`);
  assert.equal(later.alice, before.alice, 'no frame of Alice is shown under Carol\'s label');
  assert.equal(later.carol, before.carol, 'no frame of Carol is shown under Alice\'s label');

  // The true list again: both show again.
  await bob.evaluate((participants) => window.sealroomDebug.meeting.handle({ type: 'participants', participants }), truth);
  await eventually('Bob shows both again', async () => {
    const now = await shown();
    return (now.alice > later.alice && now.carol > later.carol) || { ok: false, now };
  });
});

test('the People panel takes members and moderators from the group: a member the server hides is flagged, a moderator it demotes keeps her badge', { timeout: 90000 }, async () => {
  const room = 'people-from-the-group';
  const [alice, bob] = await Promise.all(['Alice', 'Bob'].map((name) => newPage(browser, name)));
  await join(alice, server.url, room, 'Alice');
  await join(bob, server.url, room, 'Bob');
  await Promise.all([alice, bob].map((p) => waitEncrypted(p)));
  await bob.getByTestId('people-button').click();
  const aliceRow = personRow(bob, 'Alice');
  await aliceRow.getByTestId('moderator-badge').waitFor();
  const truth = await bob.evaluate(() => window.sealroomDebug.meeting.serverParticipants);
  const tell = (participants) => bob.evaluate((list) => window.sealroomDebug.meeting.handle({ type: 'participants', participants: list }), participants);

  // The server hides Alice from Bob's list: she is in the group, so her row is flagged.
  await tell(truth.filter((p) => p.display_name !== 'Alice'));
  await aliceRow.getByTestId('unlisted-badge').waitFor();
  // It lists her again, as a guest: the flag goes, and the room policy still names her key.
  await tell(truth.map((p) => (p.display_name === 'Alice' ? { ...p, role: 'guest' } : p)));
  await aliceRow.getByTestId('unlisted-badge').waitFor({ state: 'detached' });
  assert.equal(await aliceRow.getByTestId('moderator-badge').count(), 1, 'the badge is the group\'s word, not the server\'s');
});
