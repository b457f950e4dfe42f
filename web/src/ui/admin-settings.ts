// The console's organisation settings: whether people who have not signed in may join at all
// and open rooms, whether owners and admins moderate every meeting they join, what a new room
// starts with (a lobby, nobody before a moderator, who may do what), the shortest room
// password, and how large encrypted files and recordings may be and how long they are kept.
// Saved together; the server checks them, records the change and applies it from the next join
// (and the next upload).

import { type OrgSettings, orgSettings } from '../org-settings-api';
import { h } from './dom';
import { permissionGrid } from './permissions';

export function settingsSection(): HTMLElement {
  const section = h('section', { class: 'access-card', 'aria-labelledby': 'admin-settings-title' });
  const title = h('h2', { id: 'admin-settings-title' }, 'Organisation settings');
  section.replaceChildren(title);
  void orgSettings.read().then((answer) => {
    if (!answer.ok) {
      section.replaceChildren(title, h('p', { 'data-testid': 'settings-refused' }, answer.message));
      return;
    }
    section.replaceChildren(title, settingsForm(answer.value));
  });
  return section;
}

function settingsForm(saved: OrgSettings): HTMLFormElement {
  let settings = structuredClone(saved);
  const status = h('p', { role: 'status', 'data-testid': 'settings-status' });
  const permissions = permissionGrid(() => settings.new_rooms.permissions, 'org-permission', (next) => { settings.new_rooms.permissions = next; });
  const form = h('form', { class: 'poll-form', 'data-testid': 'settings-form' },
    checkbox('settings-guests', 'People who have not signed in may join', settings.guests_may_join, (on) => { settings.guests_may_join = on; }),
    checkbox('settings-guests-create', 'People who have not signed in may open a room nobody is in (and moderate it)', settings.guests_create_rooms, (on) => { settings.guests_create_rooms = on; }),
    checkbox('settings-admins-moderate', 'Owners and admins moderate every meeting they join', settings.admins_moderate, (on) => { settings.admins_moderate = on; }),
    h('fieldset', { class: 'field' }, h('legend', {}, 'A new room starts with'),
      checkbox('settings-lobby', 'A lobby: a moderator admits each joiner', settings.new_rooms.lobby, (on) => { settings.new_rooms.lobby = on; }),
      checkbox('settings-wait', 'Nobody in before a moderator', settings.new_rooms.wait_for_moderator, (on) => { settings.new_rooms.wait_for_moderator = on; }),
      h('p', { class: 'field-hint' }, 'Who may, in a new room (its moderators may change it during the meeting):'),
      permissions),
    h('fieldset', { class: 'field' }, h('legend', {}, 'Passwords, files and recordings'),
      numberField('settings-room-password', 'Shortest room password (characters, 8–64)', settings.room_password_min_chars, 1, (n) => { settings.room_password_min_chars = n; }),
      numberField('settings-file-size', 'Largest shared file (MiB)', settings.max_file_bytes, MIB, (n) => { settings.max_file_bytes = n; }),
      numberField('settings-file-hours', 'Shared files kept at most (hours; they go with their room earlier)', settings.file_lifetime_secs, HOUR, (n) => { settings.file_lifetime_secs = n; }),
      numberField('settings-recording-size', 'Largest recording (MiB)', settings.max_recording_bytes, MIB, (n) => { settings.max_recording_bytes = n; }),
      numberField('settings-recording-days', 'Recordings kept (days, unless their owner deletes them first)', settings.recording_retention_days, 1, (n) => { settings.recording_retention_days = n; })),
    h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'settings-save' }, 'Save settings'),
    status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const answer = await orgSettings.save(settings);
    if (answer.ok) settings = structuredClone(answer.value);
    status.textContent = answer.ok ? 'Saved: they apply from the next join.' : `Not saved: ${answer.message}`;
  });
  return form;
}

const MIB = 1024 * 1024;
const HOUR = 3600;

/** A labelled whole-number field (test id = `id`) shown in `unit`s of the stored value; it
 *  tells `set` the stored value when the user changes it (untouched, the value stays exact). */
function numberField(id: string, label: string, value: number, unit: number, set: (value: number) => void): HTMLElement {
  const input = h('input', { id, type: 'number', min: 1, step: 1, required: true, value: Math.max(1, Math.round(value / unit)), 'data-testid': id });
  input.addEventListener('input', () => { if (input.valueAsNumber >= 1) set(Math.round(input.valueAsNumber) * unit); });
  return h('div', { class: 'field' }, h('label', { for: id }, label), input);
}

/** A labelled checkbox (test id = `id`) that tells `set` each change. */
export function checkbox(id: string, label: string, checked: boolean, set: (on: boolean) => void): HTMLElement {
  const input = h('input', { id, type: 'checkbox', checked, 'data-testid': id });
  input.addEventListener('change', () => set(input.checked));
  return h('label', { class: 'check', for: id }, input, label);
}
