// The Polls panel and its control-bar button: a form to open a poll (when the room's permissions
// let our role), and each poll as a card to vote in, with its results once we may see them.
// Everything is the MLS core's word: a vote is sealed to the poll's creator alone, whose device
// counts the votes and publishes the results (to everyone, or sealed to the moderators). A
// question and its answers are only ever text here. Built once and updated in place, so a
// draft, a choice not yet sent and focus survive every update of the meeting.

import { pollKey } from '../interactions';
import type { Meeting } from '../meeting';
import type { PollDraft, PollView } from '../session';
import { badged, h, icon } from './dom';

/** The core's limits (it refuses anything else, and says why). */
const MAX_QUESTION_CHARS = 300;
const MAX_OPTION_CHARS = 100;
const MIN_OPTIONS = 2;
const MAX_OPTIONS = 10;

type Toast = (text: string) => void;

export interface PollsPanel {
  /** The control bar's button, which opens and closes the panel, with its count of new polls. */
  control: HTMLElement;
  el: HTMLElement;
  /** `open`: the panel shows. */
  update(open: boolean): void;
}

export function pollsPanel(meeting: Meeting, toast: Toast, toggle: () => void): PollsPanel {
  const badge = h('span', { class: 'ctrl-badge', 'data-testid': 'polls-unseen', hidden: true });
  const button = h('button', { type: 'button', class: 'ctrl', 'data-testid': 'polls-button', 'aria-label': 'Polls: show polls', title: 'Polls', onclick: toggle },
    icon('poll'), h('span', { class: 'ctrl-label' }, 'Polls'));
  const form = pollForm(meeting, toast);
  const readOnly = h('p', { class: 'muted small', 'data-testid': 'poll-read-only', hidden: true }, 'The room lets other roles open polls: you can vote in theirs.');
  const list = pollList(meeting, toast);
  const el = h('div', { class: 'panel-body polls' },
    h('p', { class: 'muted small' }, 'End-to-end encrypted: each vote is sealed to the poll’s creator, whose device counts them. The server sees none of it.'),
    form, readOnly, list.el);
  function update(open: boolean): void {
    if (open) meeting.interactions.markPollsSeen();
    const unseen = meeting.interactions.unseenPolls;
    badge.hidden = unseen === 0;
    badge.textContent = String(unseen);
    button.setAttribute('aria-label', unseen ? `Polls: show polls (${unseen} new)` : 'Polls: show polls');
    button.classList.toggle('active', open);
    button.setAttribute('aria-pressed', String(open));
    if (!open) return;
    form.hidden = !meeting.mayOpenPolls;
    readOnly.hidden = meeting.mayOpenPolls;
    list.update();
  }
  return { control: badged(button, badge), el, update };
}

// --- opening a poll ---

/** "New poll", folded until our user opens it. */
function pollForm(meeting: Meeting, toast: Toast): HTMLDetailsElement {
  const question = h('textarea', { id: 'poll-question', 'data-testid': 'poll-question', rows: 2, maxlength: MAX_QUESTION_CHARS, required: true });
  const answers = answerList();
  const multiple = h('input', { id: 'poll-multiple', type: 'checkbox', 'data-testid': 'poll-multiple' });
  const anonymous = h('input', { id: 'poll-anonymous', type: 'checkbox', 'data-testid': 'poll-anonymous', checked: true });
  const resultsFor = h('select', { id: 'poll-results-for', 'data-testid': 'poll-results-for' },
    h('option', { value: 'everyone' }, 'Everyone'), h('option', { value: 'moderators' }, 'Moderators'));
  const form = h('form', { class: 'poll-form', 'aria-label': 'New poll' },
    h('div', { class: 'field' }, h('label', { for: 'poll-question' }, 'Question'), question),
    answers.el,
    h('label', { class: 'check', for: 'poll-multiple' }, multiple, 'Several answers may be chosen'),
    h('label', { class: 'check', for: 'poll-anonymous' }, anonymous, 'Anonymous: results do not say who chose what'),
    h('div', { class: 'field poll-results-field' }, h('label', { for: 'poll-results-for' }, 'Results shown to'), resultsFor),
    h('button', { type: 'submit', class: 'btn btn-primary btn-small', 'data-testid': 'poll-create' }, 'Create poll'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const draft: PollDraft = {
      question: question.value, options: answers.values(), multiple: multiple.checked, anonymous: anonymous.checked,
      resultsFor: resultsFor.value === 'moderators' ? 'moderators' : 'everyone',
    };
    const refused = meeting.openPoll(draft);
    if (refused) {
      toast(refused);
      return;
    }
    form.reset();
    answers.reset();
    details.open = false;
    toast('Poll opened');
  });
  const details = h('details', { class: 'poll-new', 'data-testid': 'poll-form' },
    h('summary', { 'data-testid': 'poll-new' }, icon('plus'), 'New poll'), form);
  return details;
}

/** The answers being drafted: 2 to 10 text fields, each with a button to remove it. */
function answerList(): { el: HTMLElement; values(): string[]; reset(): void } {
  const rows = h('ol', { class: 'poll-options' });
  const add = h('button', { type: 'button', class: 'btn btn-small btn-ghost', 'data-testid': 'poll-add-option' }, icon('plus'), 'Add answer');
  const el = h('fieldset', { class: 'poll-answers' }, h('legend', {}, 'Answers'), rows, add);
  const inputs = (): HTMLInputElement[] => [...rows.querySelectorAll<HTMLInputElement>('input')];
  function renumber(): void {
    const all = [...rows.children];
    all.forEach((row, i) => {
      row.querySelector('input')?.setAttribute('aria-label', `Answer ${i + 1}`);
      const remove = row.querySelector('button');
      remove?.setAttribute('aria-label', `Remove answer ${i + 1}`);
      if (remove) remove.disabled = all.length <= MIN_OPTIONS;
    });
    add.disabled = all.length >= MAX_OPTIONS;
  }
  function addRow(): HTMLInputElement {
    const input = h('input', { type: 'text', 'data-testid': 'poll-option', maxlength: MAX_OPTION_CHARS });
    const row = h('li', { class: 'poll-option-row' }, input,
      h('button', { type: 'button', class: 'icon-btn', 'data-testid': 'poll-remove-option', onclick: () => { row.remove(); renumber(); } }, icon('minus')));
    rows.append(row);
    renumber();
    return input;
  }
  add.addEventListener('click', () => addRow().focus());
  function reset(): void {
    rows.replaceChildren();
    for (let i = 0; i < MIN_OPTIONS; i++) addRow();
  }
  reset();
  // Blank fields are left out: a draft may keep a spare one.
  return { el, values: () => inputs().map((input) => input.value).filter((value) => value.trim() !== ''), reset };
}

// --- the polls ---

interface Card {
  el: HTMLElement;
  poll: PollView | null;
  head: HTMLElement;
  ballot: HTMLElement;
  ballotKey: string;
  results: HTMLElement;
  foot: HTMLElement;
}

/** The polls, newest first; a card is redrawn only in the parts its poll's change touched. */
function pollList(meeting: Meeting, toast: Toast): { el: HTMLElement; update(): void } {
  const list = h('ol', { class: 'poll-list', 'data-testid': 'poll-list', 'aria-label': 'Polls' });
  const empty = h('p', { class: 'muted small' }, 'No polls yet.');
  const el = h('div', {}, empty, list);
  const cards = new Map<string, Card>();
  function update(): void {
    const polls = [...meeting.interactions.polls.values()];
    empty.hidden = polls.length > 0;
    for (const [key, card] of cards) if (!meeting.interactions.polls.has(key)) { card.el.remove(); cards.delete(key); }
    for (const poll of polls) {
      const key = pollKey(poll);
      let card = cards.get(key);
      if (!card) {
        card = newCard(key);
        cards.set(key, card);
        list.prepend(card.el);
      }
      drawCard(card, poll, meeting, toast);
    }
  }
  return { el, update };
}

function newCard(key: string): Card {
  const head = h('div', { class: 'poll-head' });
  const ballot = h('div', {});
  const results = h('div', {});
  const foot = h('div', { class: 'poll-foot' });
  const el = h('li', { class: 'poll-card', 'data-testid': 'poll', 'data-poll': key }, head, ballot, results, foot);
  return { el, poll: null, head, ballot, ballotKey: '', results, foot };
}

function drawCard(card: Card, poll: PollView, meeting: Meeting, toast: Toast): void {
  if (card.poll === poll) return;
  card.poll = poll;
  card.el.dataset.closed = String(poll.closed);
  card.head.replaceChildren(...pollHead(poll));
  // The choices are kept while the poll is open and our ballot unchanged: a choice not yet
  // sent survives the others' votes.
  const ballotKey = `${poll.closed}|${poll.ownChoices.join(',')}`;
  if (ballotKey !== card.ballotKey) {
    card.ballotKey = ballotKey;
    card.ballot.replaceChildren(...(poll.closed ? [] : [ballotForm(poll, meeting, toast)]), ownVote(poll));
    card.foot.replaceChildren(...pollFoot(poll, meeting, toast));
  }
  card.results.replaceChildren(pollResults(poll));
}

function questionId(poll: PollView): string {
  return `poll-question-${poll.creator}-${poll.id}`;
}

function pollHead(poll: PollView): HTMLElement[] {
  const tags = [poll.anonymous ? 'Anonymous' : 'Names shown', poll.multiple ? 'Several answers' : 'One answer'];
  return [
    h('div', { class: 'poll-meta' },
      h('span', { class: 'poll-creator', 'data-testid': 'poll-creator' }, poll.mine ? 'Your poll' : `Poll by ${poll.creatorName}`),
      ...tags.map((tag) => h('span', { class: 'pill' }, tag)),
      poll.closed ? h('span', { class: 'pill warn', 'data-testid': 'poll-closed' }, 'Closed') : null),
    h('p', { class: 'poll-question', id: questionId(poll) }, poll.question),
  ];
}

/** Radio buttons (or checkboxes) and Vote; a later vote replaces the earlier one. */
function ballotForm(poll: PollView, meeting: Meeting, toast: Toast): HTMLElement {
  const name = `poll-${poll.creator}-${poll.id}`;
  const choices = poll.options.map((option, i) => h('label', { class: 'check poll-choice' },
    h('input', { type: poll.multiple ? 'checkbox' : 'radio', name, value: i, 'data-testid': 'poll-choice', checked: poll.ownChoices.includes(i) }),
    option));
  const voted = poll.ownChoices.length > 0;
  const form = h('form', { class: 'poll-ballot' },
    h('fieldset', { 'aria-labelledby': questionId(poll) }, ...choices),
    h('button', { type: 'submit', class: 'btn btn-small', 'data-testid': 'poll-vote' }, voted ? 'Change vote' : 'Vote'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const chosen = [...form.querySelectorAll<HTMLInputElement>('input:checked')].map((input) => Number(input.value));
    if (chosen.length === 0) {
      toast('Choose an answer first.');
      return;
    }
    const refused = meeting.vote(poll, chosen);
    toast(refused ?? 'Vote sent, sealed to the poll’s creator');
  });
  return form;
}

function ownVote(poll: PollView): HTMLElement | string {
  if (poll.ownChoices.length === 0) return poll.closed ? h('p', { class: 'muted small' }, 'You did not vote.') : '';
  const chosen = poll.ownChoices.map((i) => poll.options[i] ?? '?').join(', ');
  return h('p', { class: 'poll-voted small', 'data-testid': 'poll-voted' }, icon('check'), `You voted: ${chosen}`);
}

/** The count as text and as bars (the bars only draw what the text says). */
function pollResults(poll: PollView): HTMLElement {
  const results = poll.results;
  if (!results) {
    const text = poll.resultsFor === 'moderators' ? 'Results are shown to moderators.' : 'No votes counted yet.';
    return h('p', { class: 'muted small', 'data-testid': 'poll-no-results' }, text);
  }
  const { counts, voters, named } = results;
  return h('div', { class: 'poll-results' },
    h('ol', { class: 'poll-result-list', 'aria-label': 'Results' }, ...poll.options.map((option, i) => resultRow(option, counts[i] ?? 0, voters, poll.anonymous ? null : named[i] ?? []))),
    h('p', { class: 'muted small', 'data-testid': 'poll-voters' }, voters === 1 ? '1 person voted' : `${voters} people voted`));
}

function resultRow(option: string, count: number, voters: number, names: string[] | null): HTMLElement {
  const percent = voters === 0 ? 0 : Math.round((count * 100) / voters);
  const fill = h('span', { class: 'poll-bar-fill' });
  fill.style.setProperty('--share', `${percent}%`);
  return h('li', { class: 'poll-result', 'data-testid': 'poll-result', 'data-count': count },
    h('div', { class: 'poll-result-line' },
      h('span', { class: 'poll-result-option' }, option),
      h('span', { class: 'poll-result-count' }, `${count === 1 ? '1 vote' : `${count} votes`} · ${percent}%`)),
    h('span', { class: 'poll-bar', 'aria-hidden': 'true' }, fill),
    names && names.length ? h('p', { class: 'poll-names small', 'data-testid': 'poll-names' }, names.join(', ')) : null);
}

function pollFoot(poll: PollView, meeting: Meeting, toast: Toast): HTMLElement[] {
  if (!poll.mine || poll.closed) return [];
  return [h('button', {
    type: 'button', class: 'btn btn-small btn-ghost', 'data-testid': 'poll-close', 'aria-label': `Close the poll “${poll.question}”`,
    onclick: () => { const refused = meeting.closePoll(poll.id); if (refused) toast(refused); },
  }, 'Close poll')];
}
