// Moderators: what each role may do in the room. The server enforces every permission (a screen
// share it refuses is dropped by the SFU, an application message of a refused kind is not
// relayed); the page only hides what our role may not do.

import type { Meeting } from '../meeting';
import type { Allowed, Permissions } from '../protocol';
import { h } from './dom';

const ROWS: { key: keyof Permissions; label: string }[] = [
  { key: 'screen_share', label: 'Share screen' },
  { key: 'chat', label: 'Chat' },
  { key: 'files', label: 'Send files' },
  { key: 'recording', label: 'Record' },
];

export function permissionsCard(meeting: Meeting, toast: (text: string) => void): HTMLElement {
  const current = meeting.roomSettings.permissions;
  return h('section', { class: 'access-card perm-card', 'aria-labelledby': 'permissions-title', 'data-testid': 'permissions-card' },
    h('h3', { id: 'permissions-title' }, 'Who may'),
    h('div', { class: 'perm-grid' }, ...ROWS.map(({ key, label }) => {
      const id = `permission-${key}`;
      const select = h('select', { id, 'data-testid': id },
        h('option', { value: 'everyone', selected: current[key] === 'everyone' }, 'Everyone'),
        h('option', { value: 'moderators', selected: current[key] === 'moderators' }, 'Moderators only'));
      select.addEventListener('change', () => {
        const next: Permissions = { ...meeting.roomSettings.permissions, [key]: select.value as Allowed };
        meeting.setPermissions(next);
        toast(`${label}: ${select.value === 'everyone' ? 'everyone' : 'moderators only'}`);
      });
      return h('div', { class: 'perm-row' }, h('label', { for: id }, label), select);
    })));
}
