// Raised hands, reactions and polls between Chromium pages, all end-to-end encrypted MLS
// application messages: hands queue in the order they went up and a moderator of the room
// policy lowers one; a reaction floats over its sender's tile on the other pages; a poll's
// votes are sealed to its creator alone (a third member's core sees one go by and cannot open
// it), counted and published; with polls left to moderators a participant's form is hidden and
// a forced poll refused by the server.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { join as pathJoin } from 'node:path';
import { artifactsDir, closePages, eventually, launchBrowser, startServer, state, meet as meetIn } from './support.mjs';

let server;
let browser;
before(async () => { server = await startServer(); browser = await launchBrowser(); });
afterEach(closePages);
after(async () => { await browser?.close(); await server?.stop(); });

function meet(room, names) {
  return meetIn(browser, server.url, room, names);
}

/** Waits until every page's core lists exactly these raised hands, in this order. */
async function handsEverywhere(pages, names) {
  await eventually(`raised hands [${names}] on every page`, async () => {
    const hands = await Promise.all(pages.map(async (page) => (await state(page)).hands));
    return hands.every((list) => JSON.stringify(list) === JSON.stringify(names)) || { ok: false, hands };
  }, { timeout: 20000 });
}

/** The names the People panel's queue shows, in its order. */
function shownHands(page) {
  return page.getByTestId('raised-hand').evaluateAll((rows) => rows.map((row) => row.dataset.name));
}

test('hands go up in order, and a moderator lowers one', { timeout: 120000 }, async () => {
  const pages = await meet('hands-three', ['Alice', 'Bob', 'Carol']);
  const [alice, bob, carol] = pages;
  for (const page of pages) await page.getByTestId('people-button').click();

  await bob.getByTestId('hand-button').click();
  await handsEverywhere(pages, ['Bob']);
  await carol.getByTestId('hand-button').click();
  await handsEverywhere(pages, ['Bob', 'Carol']);
  assert.equal(await bob.getByTestId('hand-button').getAttribute('aria-pressed'), 'true');
  assert.equal(await bob.getByTestId('hand-button').getAttribute('aria-label'), 'Lower hand');
  for (const page of pages) {
    await eventually('the queue shows both hands', async () => JSON.stringify(await shownHands(page)) === '["Bob","Carol"]');
  }
  // The tiles carry the position; screen readers were told.
  await alice.locator('[data-testid="participant-tile"][data-name="Carol"] [data-testid="tile-hand"]').filter({ hasText: '2' }).waitFor();
  await alice.getByTestId('announcements').filter({ hasText: 'Carol raised their hand' }).waitFor({ state: 'attached' });
  // Only the room policy's moderator may lower others' hands.
  assert.equal(await alice.getByTestId('lower-hand').count(), 2);
  assert.equal(await carol.getByTestId('lower-hand').count(), 0);
  assert.equal(await bob.getByTestId('lower-hand').count(), 0);
  await alice.screenshot({ path: pathJoin(artifactsDir, 'hands.png') });

  await alice.locator('[data-testid="raised-hand"][data-name="Bob"]').getByTestId('lower-hand').click();
  await handsEverywhere(pages, ['Carol']);
  await bob.locator('[data-testid="hand-button"][aria-pressed="false"]').waitFor({ timeout: 10000 });
  for (const page of pages) await eventually('the queue shows Carol alone', async () => JSON.stringify(await shownHands(page)) === '["Carol"]');
  assert.equal(await alice.locator('[data-testid="participant-tile"][data-name="Bob"] [data-testid="tile-hand"]').count(), 0);
  assert.equal(await carol.getByTestId('lower-hand').count(), 0);
  for (const page of pages) assert.deepEqual((await state(page)).errors, []);
});

test('a reaction appears on the other pages', { timeout: 90000 }, async () => {
  const [alice, bob, carol] = await meet('reactions-three', ['Alice', 'Bob', 'Carol']);
  const carolLeaf = (await state(carol)).ownLeaf;
  // A reaction shows for a few seconds only: each page records every one that appears.
  for (const page of [alice, bob]) {
    await page.evaluate(() => {
      window.__reactions = [];
      new MutationObserver((records) => {
        for (const node of records.flatMap((record) => [...record.addedNodes])) {
          if (node.dataset?.testid !== 'reaction') continue;
          window.__reactions.push({ leaf: Number(node.dataset.leaf), text: node.textContent, tile: node.closest('.tile')?.dataset.name ?? null });
        }
      }).observe(document.body, { childList: true, subtree: true });
    });
  }

  await carol.getByTestId('react-button').click();
  assert.equal(await carol.getByTestId('react-button').getAttribute('aria-expanded'), 'true');
  assert.equal(await carol.getByTestId('reaction-choice').count(), 6);
  await carol.getByRole('button', { name: 'React with celebration' }).click();
  assert.equal(await carol.getByTestId('reaction-choice').first().isVisible(), false, 'the menu closed');

  for (const page of [alice, bob]) {
    const seen = await eventually('Carol’s reaction', async () => {
      const reactions = await page.evaluate(() => window.__reactions);
      return reactions.find((r) => r.leaf === carolLeaf) ?? { ok: false, reactions };
    }, { timeout: 20000 });
    assert.equal(seen.text, '🎉');
    assert.equal(seen.tile, 'Carol', 'over her tile');
    await page.getByTestId('announcements').filter({ hasText: 'Carol reacted with celebration' }).waitFor({ state: 'attached' });
  }
  // And it goes again.
  await eventually('the reaction is gone', async () => (await alice.getByTestId('reaction').count()) === 0, { timeout: 20000 });
});

/** The poll card asking `question`. */
function pollCard(page, question) {
  return page.getByTestId('poll').filter({ hasText: question });
}

async function openPollFromForm(page, question, options, { anonymous = true, resultsFor = 'everyone' } = {}) {
  await page.getByTestId('poll-new').click();
  await page.getByTestId('poll-question').fill(question);
  const fields = page.getByTestId('poll-option');
  for (const [i, option] of options.entries()) {
    if (i >= await fields.count()) await page.getByTestId('poll-add-option').click();
    await fields.nth(i).fill(option);
  }
  await page.getByTestId('poll-multiple').setChecked(false);
  await page.getByTestId('poll-anonymous').setChecked(anonymous);
  await page.getByTestId('poll-results-for').selectOption(resultsFor);
  await page.getByTestId('poll-create').click();
  await page.getByTestId('poll-question').waitFor({ state: 'hidden' });
}

async function vote(page, question, answer) {
  const card = pollCard(page, question);
  await card.getByTestId('poll-choice').nth(answer).check();
  await card.getByTestId('poll-vote').click();
}

test('a poll among three pages: votes counted, results shown, the poll closed', { timeout: 120000 }, async () => {
  const pages = await meet('polls-three', ['Alice', 'Bob', 'Carol']);
  const [alice, bob, carol] = pages;
  await alice.getByTestId('polls-button').click();
  await openPollFromForm(alice, 'Lunch?', ['Pizza', 'Salad']);
  await pollCard(alice, 'Lunch?').waitFor({ timeout: 15000 });
  const aliceLeaf = (await state(alice)).ownLeaf;
  const [opened] = (await state(alice)).polls;
  assert.equal(await pollCard(alice, 'Lunch?').getAttribute('data-poll'), `${aliceLeaf}:${opened.id}`);

  // The others' Polls buttons say a poll opened.
  for (const page of [bob, carol]) {
    await page.getByTestId('polls-unseen').filter({ hasText: '1' }).waitFor({ timeout: 15000 });
    assert.match(await page.getByTestId('polls-button').getAttribute('aria-label'), /1 new/);
    await page.getByTestId('polls-button').click();
    await pollCard(page, 'Lunch?').waitFor();
    await page.getByTestId('polls-unseen').waitFor({ state: 'hidden' });
    assert.equal(await pollCard(page, 'Lunch?').getByTestId('poll-creator').textContent(), 'Poll by Alice');
    assert.equal(await pollCard(page, 'Lunch?').getByTestId('poll-close').count(), 0);
  }
  await vote(bob, 'Lunch?', 0);
  await vote(carol, 'Lunch?', 1);

  for (const page of pages) {
    await eventually('both votes counted', async () => {
      const poll = (await state(page)).polls.find((p) => p.question === 'Lunch?');
      return (poll?.results?.counts.join() === '1,1' && poll.results.voters === 2) || { ok: false, poll };
    }, { timeout: 20000 });
    const rows = pollCard(page, 'Lunch?').getByTestId('poll-result');
    await eventually('the results shown', async () => (await rows.count()) === 2);
    for (const text of await rows.allTextContents()) assert.match(text, /1 vote · 50%/);
  }
  await pollCard(bob, 'Lunch?').getByTestId('poll-voted').filter({ hasText: 'You voted: Pizza' }).waitFor();
  // Bob's vote was sealed to Alice: Carol's core saw it go by and could not open it.
  await eventually('Carol did not open Bob’s vote', async () => (await state(carol)).votesNotForUs >= 1);
  await bob.screenshot({ path: pathJoin(artifactsDir, 'polls.png') });

  await pollCard(alice, 'Lunch?').getByTestId('poll-close').click();
  for (const page of pages) {
    await pollCard(page, 'Lunch?').getByTestId('poll-closed').waitFor({ timeout: 15000 });
    assert.equal(await pollCard(page, 'Lunch?').getByTestId('poll-vote').count(), 0);
    assert.ok((await state(page)).polls.every((p) => p.closed));
  }
  await carol.screenshot({ path: pathJoin(artifactsDir, 'polls-closed.png') });
  for (const page of pages) assert.deepEqual((await state(page)).errors, []);
});

test('polls left to moderators: hidden for a participant, and refused when forced', { timeout: 90000 }, async () => {
  const [alice, bob] = await meet('polls-permissions', ['Alice', 'Bob']);
  await alice.getByTestId('people-button').click();
  await alice.getByTestId('permission-polls').selectOption('moderators');
  await eventually('Bob has the new permissions', async () => (await state(bob)).roomSettings.permissions.polls === 'moderators');
  await bob.getByTestId('polls-button').click();
  await bob.getByTestId('poll-read-only').waitFor();
  assert.equal(await bob.getByTestId('poll-form').isVisible(), false);

  const forced = { question: 'forced', options: ['a', 'b'], multiple: false, anonymous: true, resultsFor: 'everyone' };
  assert.equal(await bob.evaluate((poll) => window.sealroomDebug.meeting.openPoll(poll), forced), null, 'the page sent it');
  await bob.getByTestId('toast').filter({ hasText: /may not open polls/i }).waitFor({ timeout: 10000 });

  // A moderator still opens one, which Bob receives; nothing of Bob's reached Alice.
  await alice.getByTestId('polls-button').click();
  await openPollFromForm(alice, 'Moderators still ask?', ['Yes', 'No']);
  await bob.getByTestId('poll').filter({ hasText: 'Moderators still ask?' }).waitFor({ timeout: 15000 });
  assert.ok((await state(alice)).polls.every((p) => p.question !== 'forced'), 'the server relayed nothing');
  assert.equal(await alice.getByTestId('poll').filter({ hasText: 'forced' }).count(), 0);
});
