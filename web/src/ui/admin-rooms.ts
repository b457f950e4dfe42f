// The console's persistent rooms: the organisation's rooms whose name stays reserved and whose
// settings and password are kept between meetings (as `sealroom room` makes them). Lists them,
// makes one (lobby, nobody before a moderator, who may do what, an optional password), removes
// one; the server checks the password against the room password policy.

import { DEFAULT_PERMISSIONS } from '../protocol';
import type { RoomDefaults } from '../org-settings-api';
import { type PersistentRoomRow, persistentRooms } from '../rooms-api';
import { checkbox } from './admin-settings';
import { h } from './dom';
import { permissionGrid } from './permissions';

export function roomsSection(): HTMLElement {
  const section = h('section', { class: 'access-card', 'aria-labelledby': 'admin-rooms-title' });
  const status = h('p', { role: 'status', 'data-testid': 'rooms-status' });
  const list = h('ul', { class: 'admin-tokens', 'data-testid': 'rooms-list' });
  const refresh = async () => {
    const answer = await persistentRooms.list();
    if (!answer.ok) { section.replaceChildren(title(), h('p', { 'data-testid': 'rooms-refused' }, answer.message)); return; }
    list.replaceChildren(...answer.value.map((room) => roomRow(room, status, refresh)));
  };
  section.replaceChildren(title(), roomForm(status, refresh), status, list);
  void refresh();
  return section;
}

function title(): HTMLElement {
  return h('h2', { id: 'admin-rooms-title' }, 'Persistent rooms');
}

function roomRow(room: PersistentRoomRow, status: HTMLElement, refresh: () => Promise<void>): HTMLElement {
  const remove = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'room-remove' }, 'Remove');
  remove.addEventListener('click', async () => {
    const removed = await persistentRooms.remove(room.name);
    status.textContent = removed.ok ? `Room ${room.name} removed.` : `Not removed: ${removed.message}`;
    await refresh();
  });
  const traits = [room.settings.lobby && 'lobby', room.settings.wait_for_moderator && 'nobody before a moderator', room.password && 'password']
    .filter(Boolean).join(', ');
  return h('li', { 'data-testid': 'room-row', 'data-name': room.name }, h('strong', {}, room.name), ` ${traits || 'open'} `, remove);
}

function roomForm(status: HTMLElement, refresh: () => Promise<void>): HTMLFormElement {
  const settings: RoomDefaults = { lobby: false, wait_for_moderator: false, permissions: { ...DEFAULT_PERMISSIONS } };
  const name = h('input', { id: 'room-name', required: true, maxlength: 64, pattern: '[a-z0-9\\-]+', 'data-testid': 'room-name' });
  const password = h('input', { id: 'room-password', type: 'password', autocomplete: 'new-password', 'data-testid': 'room-password' });
  const form = h('form', { class: 'poll-form', 'data-testid': 'room-form' },
    h('div', { class: 'field' }, h('label', { for: 'room-name' }, 'Name (a-z, 0-9, -)'), name),
    checkbox('room-lobby', 'A lobby: a moderator admits each joiner', false, (on) => { settings.lobby = on; }),
    checkbox('room-wait', 'Nobody in before a moderator', false, (on) => { settings.wait_for_moderator = on; }),
    permissionGrid(() => settings.permissions, 'room-permission', (next) => { settings.permissions = next; }),
    h('div', { class: 'field' }, h('label', { for: 'room-password' }, 'Password (optional)'), password),
    h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'room-create' }, 'Make the room'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const made = await persistentRooms.create(name.value, settings, password.value);
    status.textContent = made.ok ? `Room ${name.value} made.` : `Not made: ${made.message}`;
    if (made.ok) { name.value = ''; password.value = ''; }
    await refresh();
  });
  return form;
}
