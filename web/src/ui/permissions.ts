// Moderators: what each role may do in the room. The server enforces every permission (a screen
// share it refuses is dropped by the SFU, an application message of a refused kind is not
// relayed); the page only hides what our role may not do.

import type { Meeting } from '../meeting';
import type { Allowed, Permissions } from '../protocol';
import { h } from './dom';

/** Every permission the protocol has, each a feature clients offer. */
const ROWS: { key: keyof Permissions; label: string }[] = [
  { key: 'screen_share', label: 'Share screen' },
  { key: 'chat', label: 'Chat' },
  { key: 'files', label: 'Send files' },
  { key: 'recording', label: 'Record' },
  { key: 'polls', label: 'Open polls' },
];

/** Members: moderators and participants signed in to an account, not guests. */
const CHOICES: { value: Allowed; label: string }[] = [
  { value: 'everyone', label: 'Everyone' },
  { value: 'members', label: 'Signed-in members' },
  { value: 'moderators', label: 'Moderators only' },
];

export function permissionsCard(meeting: Meeting, toast: (text: string) => void): HTMLElement {
  return h('section', { class: 'access-card perm-card', 'aria-labelledby': 'permissions-title', 'data-testid': 'permissions-card' },
    h('h3', { id: 'permissions-title' }, 'Who may'),
    permissionGrid(() => meeting.roomSettings.permissions, 'permission', (next, change) => {
      meeting.setPermissions(next);
      toast(change);
    }));
}

/** One select per permission, ids `${prefix}-${key}`; `changed` gets the permissions with the
 *  choice made (on top of `current()`) and a sentence saying what changed. */
export function permissionGrid(current: () => Permissions, prefix: string, changed: (next: Permissions, change: string) => void): HTMLElement {
  return h('div', { class: 'perm-grid' }, ...ROWS.map(({ key, label }) => {
    const id = `${prefix}-${key}`;
    const select = h('select', { id, 'data-testid': id },
      ...CHOICES.map((choice) => h('option', { value: choice.value, selected: current()[key] === choice.value }, choice.label)));
    select.addEventListener('change', () => {
      const choice = CHOICES[select.selectedIndex];
      if (!choice) return;
      changed({ ...current(), [key]: choice.value }, `${label}: ${choice.label.toLowerCase()}`);
    });
    return h('div', { class: 'perm-row' }, h('label', { for: id }, label), select);
  }));
}
