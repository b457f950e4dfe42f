// Raised hands: the control bar's toggle, the queue in the People panel (in the order the hands
// went up, with a "Lower" button for each other hand when our key moderates the room policy),
// a numbered hand on each raiser's tile, and a polite announcement of each new hand. The core
// keeps the queue; this only shows its last word.

import type { Meeting } from '../meeting';
import type { RaisedHand } from '../session';
import { h, icon } from './dom';

export interface RaisedHands {
  /** The control bar's toggle. */
  button: HTMLButtonElement;
  /** The queue, for the People panel (the same element each time). */
  list: HTMLElement;
  update(): void;
}

/** Names a tile by the MLS leaf it shows (none: a participant not in the group yet). */
export function setTileLeaf(tile: HTMLElement, leaf: number | undefined): void {
  if (leaf === undefined) delete tile.dataset.leaf;
  else tile.dataset.leaf = String(leaf);
}

export function raisedHands(meeting: Meeting, grid: HTMLElement, toast: (text: string) => void, say: (text: string) => void): RaisedHands {
  const button = handButton(meeting, toast);
  const queue = handQueue(meeting, toast);
  let announced: RaisedHand[] = [];
  function update(): void {
    const hands = meeting.interactions.hands;
    updateButton(button, meeting);
    queue.update();
    markTiles(grid, meeting);
    if (hands === announced) return;
    const ownLeaf = meeting.epoch?.ownLeaf;
    for (const hand of hands) {
      if (hand.leaf !== ownLeaf && !announced.some((a) => a.leaf === hand.leaf)) say(`${hand.name} raised their hand`);
    }
    announced = hands;
  }
  return { button, list: queue.el, update };
}

function handButton(meeting: Meeting, toast: (text: string) => void): HTMLButtonElement {
  const button = h('button', { type: 'button', class: 'ctrl', 'data-testid': 'hand-button', 'aria-pressed': 'false', 'aria-label': 'Raise hand', title: 'Raise hand' },
    icon('hand'), h('span', { class: 'ctrl-label' }, 'Raise'));
  button.addEventListener('click', () => {
    const refused = meeting.raiseHand(!meeting.handRaised);
    if (refused) toast(refused);
  });
  return button;
}

function updateButton(button: HTMLButtonElement, meeting: Meeting): void {
  const raised = meeting.handRaised;
  const label = raised ? 'Lower hand' : 'Raise hand';
  button.setAttribute('aria-pressed', String(raised));
  button.setAttribute('aria-label', label);
  button.title = label;
  button.classList.toggle('active', raised);
  button.disabled = meeting.epoch === null;
  (button.lastChild as HTMLElement).textContent = raised ? 'Lower' : 'Raise';
}

/** The queue, rebuilt only when it (or our right to lower hands) changed. */
function handQueue(meeting: Meeting, toast: (text: string) => void): { el: HTMLElement; update(): void } {
  const list = h('ol', { class: 'hands-list', 'data-testid': 'raised-hands' });
  const el = h('section', { class: 'hands-card', 'aria-labelledby': 'hands-title', hidden: true },
    h('h3', { id: 'hands-title' }, icon('hand'), 'Raised hands'), list);
  let shown = '';
  function update(): void {
    const hands = meeting.interactions.hands;
    const moderator = meeting.moderatesGroup;
    const ownLeaf = meeting.epoch?.ownLeaf;
    const key = [moderator, ownLeaf, ...hands.map((hand) => `${hand.leaf}:${hand.name}`)].join('|');
    if (key === shown) return;
    shown = key;
    el.hidden = hands.length === 0;
    list.replaceChildren(...hands.map((hand, i) => handRow(hand, i + 1, hand.leaf === ownLeaf, moderator, meeting, toast)));
  }
  return { el, update };
}

function handRow(hand: RaisedHand, position: number, self: boolean, moderator: boolean, meeting: Meeting, toast: (text: string) => void): HTMLElement {
  const lower = moderator && !self
    ? h('button', {
      type: 'button', class: 'btn btn-small btn-ghost', 'data-testid': 'lower-hand', 'aria-label': `Lower ${hand.name}'s hand`,
      onclick: () => { const refused = meeting.lowerHand(hand.leaf); if (refused) toast(refused); },
    }, 'Lower')
    : null;
  return h('li', { class: 'hand-row', 'data-testid': 'raised-hand', 'data-leaf': hand.leaf, 'data-name': hand.name },
    h('span', { class: 'hand-position', 'aria-hidden': 'true' }, String(position)),
    h('span', { class: 'person-name' }, hand.name, self ? h('span', { class: 'muted' }, ' (you)') : null),
    lower);
}

/** A numbered hand on the tile of each member whose hand is up. */
function markTiles(grid: HTMLElement, meeting: Meeting): void {
  for (const tile of grid.querySelectorAll<HTMLElement>('.tile:not(.screen)')) {
    const position = tile.dataset.leaf === undefined ? null : meeting.interactions.handPosition(Number(tile.dataset.leaf));
    let badge = tile.querySelector<HTMLElement>(':scope > .tile-hand');
    if (position === null) {
      badge?.remove();
      continue;
    }
    if (!badge) {
      badge = h('span', { class: 'tile-hand', 'data-testid': 'tile-hand', role: 'img' });
      tile.append(badge);
    }
    const label = `Hand raised, number ${position} in line`;
    if (badge.dataset.position === String(position)) continue;
    badge.dataset.position = String(position);
    badge.title = label;
    badge.setAttribute('aria-label', label);
    badge.replaceChildren(icon('hand'), h('span', { 'aria-hidden': 'true' }, String(position)));
  }
}
