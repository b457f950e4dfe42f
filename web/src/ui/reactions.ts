// Reactions: the control bar's "React" button with its menu of the six emoji the core sends,
// and each reaction that arrives (ours too) floating over its sender's tile for a few seconds
// (in a strip over the grid while the sender has no tile), and told to screen readers.

import type { Meeting } from '../meeting';
import type { Reaction } from '../session';
import { h, icon } from './dom';

/** The emoji the core accepts, in its order, with what a screen reader says for each. */
const EMOJI: { emoji: string; name: string }[] = [
  { emoji: '👍', name: 'thumbs up' },
  { emoji: '👏', name: 'applause' },
  { emoji: '❤️', name: 'heart' },
  { emoji: '😂', name: 'laughter' },
  { emoji: '😮', name: 'surprise' },
  { emoji: '🎉', name: 'celebration' },
];

/** How long a reaction stays on screen. */
const SHOWN_MS = 4000;
/** Most reactions over one tile at once: the oldest goes first. */
const MAX_PER_PLACE = 6;

export interface Reactions {
  /** The button and its menu, for the control bar. */
  control: HTMLElement;
  /** Where reactions of members without a tile show, over the grid. */
  strip: HTMLElement;
  show(reaction: Reaction): void;
}

export function reactions(meeting: Meeting, grid: HTMLElement, toast: (text: string) => void, say: (text: string) => void): Reactions {
  const strip = h('div', { class: 'reaction-strip', 'aria-hidden': 'true' });
  function show(reaction: Reaction): void {
    const own = reaction.sender === meeting.epoch?.ownLeaf;
    const name = nameOf(reaction.emoji);
    say(own ? `You reacted with ${name}` : `${reaction.senderName} reacted with ${name}`);
    const tile = grid.querySelector<HTMLElement>(`.tile:not(.screen)[data-leaf="${reaction.sender}"]`);
    float(tile ?? strip, reaction, tile ? null : reaction.senderName);
  }
  return { control: reactionMenu(meeting, toast), strip, show };
}

function nameOf(emoji: string): string {
  return EMOJI.find((e) => e.emoji === emoji)?.name ?? 'a reaction';
}

/** The emoji over `place` for SHOWN_MS; `name`: the sender's, where the place does not say. */
function float(place: HTMLElement, reaction: Reaction, name: string | null): void {
  const el = h('span', { class: 'reaction', 'data-testid': 'reaction', 'data-leaf': reaction.sender, title: `${reaction.senderName}: ${nameOf(reaction.emoji)}` },
    h('span', { class: 'reaction-emoji' }, reaction.emoji),
    name ? h('span', { class: 'reaction-name' }, name) : null);
  place.append(el);
  const shown = place.querySelectorAll(':scope > .reaction');
  for (let i = 0; i < shown.length - MAX_PER_PLACE; i++) shown[i]?.remove();
  window.setTimeout(() => el.remove(), SHOWN_MS);
}

/** The "React" button and its menu, which closes on a choice, Escape or a click elsewhere. */
function reactionMenu(meeting: Meeting, toast: (text: string) => void): HTMLElement {
  const menu = h('div', { class: 'reaction-menu', id: 'reaction-menu', role: 'group', 'aria-label': 'Reactions', hidden: true });
  const button = h('button', {
    type: 'button', class: 'ctrl', 'data-testid': 'react-button', 'aria-label': 'React: send a reaction', title: 'Send a reaction',
    'aria-expanded': 'false', 'aria-controls': 'reaction-menu',
  }, icon('smile'), h('span', { class: 'ctrl-label' }, 'React'));
  const wrap = h('div', { class: 'reaction-control' }, menu, button);
  const open = (shown: boolean): void => {
    menu.hidden = !shown;
    button.setAttribute('aria-expanded', String(shown));
    button.classList.toggle('active', shown);
  };
  menu.append(...EMOJI.map(({ emoji, name }) => h('button', {
    type: 'button', class: 'reaction-choice', 'data-testid': 'reaction-choice', 'aria-label': `React with ${name}`, title: name,
    onclick: () => {
      open(false);
      button.focus();
      const refused = meeting.react(emoji);
      if (refused) toast(refused);
    },
  }, emoji)));
  button.addEventListener('click', () => {
    open(menu.hidden);
    if (!menu.hidden) menu.querySelector('button')?.focus();
  });
  wrap.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape' || menu.hidden) return;
    open(false);
    button.focus();
  });
  document.addEventListener('click', (event) => { if (!wrap.contains(event.target as Node)) open(false); });
  return wrap;
}
