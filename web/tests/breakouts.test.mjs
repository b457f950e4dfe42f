// Breakout rooms between four Chromium pages: a moderator opens two rooms and spreads the others
// over them; each room is its own encrypted group (its own security code, its media decoded
// inside it), a chat message of one room relayed into the other opens for nobody there (each
// page's own core fails on it), a call for help reaches the moderator, who joins that room and
// broadcasts to all; closing the rooms brings everyone back to the main room, to a new shared
// security code.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { join as pathJoin } from 'node:path';
import { artifactsDir, closePages, decodesVideoFrom, eventually, launchBrowser, meet, remoteMedia, startServer, state, takeCspViolations } from './support.mjs';

let server;
let browser;
before(async () => { server = await startServer(); browser = await launchBrowser(); });
afterEach(closePages);
after(async () => { await browser?.close(); await server?.stop(); });

/** The label of the breakout room the page is in (null: the main room). */
async function roomOf(page) {
  return (await state(page)).breakouts.current;
}

/** Waits until the page shows breakout room `label` with `members` people in its group. */
async function inRoom(page, label, members) {
  await eventually(`${label} with ${members} members`, async () => {
    const s = await state(page);
    return (s.breakouts.current === label && s.roster.length === members && s.e2ee === 'encrypted') || { ok: false, current: s.breakouts.current, roster: s.roster.length, e2ee: s.e2ee };
  }, { timeout: 45000 });
}

/** The last application message the page sent in the room it shows (its MLS ciphertext). */
function lastSent(page) {
  return page.evaluate(() => window.sealroomDebug.meeting.sentLog.filter((e) => e.message.type === 'application').at(-1)?.message.message);
}

/** Hands `message` to the page's core of the room it shows, or of its main room, as if the
 *  server relayed it there; returns how many messages that core failed on, before and after. */
function relayInto(page, message, which) {
  return page.evaluate(({ message, which }) => {
    const meeting = window.sealroomDebug[which];
    const before = meeting.errors.length;
    meeting.session.onMessage({ type: 'application', message, number: 999 });
    return { before, after: meeting.errors.length, chat: meeting.chat.lines.map((line) => line.text) };
  }, { message, which });
}

test('two breakout rooms, each its own encrypted group, and everyone back', { timeout: 240000 }, async () => {
  const pages = await meet(browser, server.url, 'breakout-main', ['Alice', 'Bob', 'Carol', 'Dave']);
  const [alice, bob, carol, dave] = pages;
  const mainCode = (await state(alice)).code.digits;

  // Only the moderator may open rooms: the others have no Rooms button.
  assert.equal(await bob.getByTestId('breakouts-button').isVisible(), false);
  await alice.getByTestId('breakouts-button').click();
  await alice.getByTestId('breakout-count').fill('2');
  await alice.getByTestId('breakout-open').click();

  // Everyone else is told its room, and goes.
  const labels = {};
  for (const [name, page] of [['Bob', bob], ['Carol', carol], ['Dave', dave]]) {
    const join = page.getByTestId('breakout-banner-join');
    await join.waitFor({ timeout: 20000 });
    labels[name] = (await join.textContent()).replace(/^Join /, '');
    await join.click();
  }
  // Spread in roster order over two rooms: Bob and Dave share one, Carol has the other.
  assert.equal(labels.Bob, labels.Dave);
  assert.notEqual(labels.Bob, labels.Carol);
  await Promise.all([inRoom(bob, labels.Bob, 2), inRoom(dave, labels.Dave, 2), inRoom(carol, labels.Carol, 1)]);
  assert.equal(await roomOf(alice), null, 'the moderator stays in the main room');
  await decodesVideoFrom(bob, 'Dave');
  await bob.screenshot({ path: pathJoin(artifactsDir, 'breakout-room.png') });

  // Its own group: one code inside the room, another in the other room and in the main one.
  const [bobState, daveState, carolState] = await Promise.all([bob, dave, carol].map(state));
  assert.equal(bobState.code.digits, daveState.code.digits);
  assert.notEqual(bobState.code.digits, carolState.code.digits);
  assert.notEqual(bobState.code.digits, mainCode);
  assert.equal(bobState.breakouts.mainCode.digits, mainCode, 'still in the main room’s group meanwhile');

  // A message of Carol's room, relayed into Bob's room or the main room, opens for nobody there.
  await carol.getByTestId('chat-button').click();
  await carol.getByTestId('chat-input').fill('only for room two');
  await carol.getByTestId('chat-send').click();
  await carol.getByTestId('chat-message').filter({ hasText: 'only for room two' }).waitFor();
  const sealed = await lastSent(carol);
  assert.ok(sealed, 'Carol sent an MLS application message');
  for (const which of ['meeting', 'main']) {
    const tried = await relayInto(bob, sealed, which);
    assert.equal(tried.after, tried.before + 1, `Bob's ${which} core fails to open it`);
    assert.ok(!tried.chat.includes('only for room two'));
  }

  // Carol asks for help; the moderator is told, and joins her room.
  await carol.getByTestId('breakout-help-button').click();
  await eventually('Alice hears the call for help', async () => (await state(alice)).breakouts.helpWanted.some((h) => h.from === 'Carol' && h.room === labels.Carol));
  await alice.getByTestId('breakout-help').filter({ hasText: `Carol asks for help in ${labels.Carol}` }).waitFor();
  await alice.locator(`[data-testid="breakout-room"]`).filter({ hasText: labels.Carol }).getByTestId('breakout-join').click();
  await Promise.all([inRoom(alice, labels.Carol, 2), inRoom(carol, labels.Carol, 2)]);
  await decodesVideoFrom(carol, 'Alice');
  assert.equal((await state(alice)).code.digits, (await state(carol)).code.digits);

  // From Carol's room, the moderator speaks to every room.
  await alice.getByTestId('breakouts-button').click();
  await alice.getByTestId('breakout-broadcast').fill('Two minutes left');
  await alice.getByTestId('breakout-broadcast-send').click();
  for (const page of [bob, carol, dave]) {
    await page.getByTestId('breakout-broadcast-shown').filter({ hasText: 'Alice to all rooms: Two minutes left' }).waitFor({ timeout: 20000 });
  }

  // Closing the rooms brings everyone back to the main room, to a new shared code.
  await alice.getByTestId('breakout-close').click();
  await eventually('everyone back in the main room', async () => {
    const states = await Promise.all(pages.map(state));
    const codes = new Set(states.map((s) => s.code?.digits));
    return (states.every((s) => s.breakouts.current === null && s.breakouts.plan === null && s.roster.length === 4) && codes.size === 1 && !codes.has(mainCode))
      || { ok: false, rooms: states.map((s) => s.breakouts.current), codes: [...codes] };
  }, { timeout: 45000 });
  // Back in the main room, Bob decodes Carol's video again.
  const framesFromCarol = async () => (await remoteMedia(bob)).find((m) => m.name === 'Carol')?.video?.framesDecoded ?? 0;
  const before = await framesFromCarol();
  await eventually('Carol\'s video decodes again', async () => (await framesFromCarol()) > before + 10);
  assert.deepEqual(takeCspViolations(), []);
});

test('people choose their room, and the timer calls them back', { timeout: 120000 }, async () => {
  const [alice, bob] = await meet(browser, server.url, 'breakout-timer', ['Alice', 'Bob']);
  await alice.getByTestId('breakouts-button').click();
  await alice.getByTestId('breakout-choose').check();
  await alice.getByTestId('breakout-minutes').fill('0.25');
  await alice.getByTestId('breakout-open').click();

  // Bob may go to either room, and sees the time left.
  const joins = bob.getByTestId('breakout-banner-join');
  await eventually('both rooms offered', async () => JSON.stringify(await joins.allTextContents()) === '["Join Room 1","Join Room 2"]');
  await bob.getByTestId('breakout-countdown').filter({ hasText: /Rooms close in 0:[01]\d\./ }).waitFor();
  await joins.filter({ hasText: 'Room 2' }).click();
  await inRoom(bob, 'Room 2', 1);
  await bob.getByTestId('breakout-current').filter({ hasText: 'Room 2' }).waitFor();

  // A quarter of a minute after opening, the moderator's page closes the rooms.
  await eventually('Bob back in the main room', async () => {
    const s = await state(bob);
    return (s.breakouts.current === null && s.breakouts.plan === null && s.roster.length === 2) || { ok: false, current: s.breakouts.current };
  }, { timeout: 45000 });
  assert.equal((await state(alice)).breakouts.plan, null);
});
