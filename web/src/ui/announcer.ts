// What screen readers are told of as it happens (a raised hand, a reaction), politely, and shown
// to nobody: the same news is on the screen already.

import { h } from './dom';

export interface Announcer {
  el: HTMLElement;
  say(text: string): void;
}

/** The few latest announcements are kept, so one said in the same moment as another is not lost. */
const KEPT = 3;

export function announcer(): Announcer {
  const el = h('div', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite', 'data-testid': 'announcements' });
  function say(text: string): void {
    // A new node, not new text in an old one: the same sentence twice is read twice.
    el.append(h('p', {}, text));
    while (el.childElementCount > KEPT) el.firstElementChild?.remove();
  }
  return { el, say };
}
