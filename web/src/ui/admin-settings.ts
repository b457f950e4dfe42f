// The console's organisation settings: whether people who have not signed in may join at all,
// whether owners and admins moderate every meeting they join, and what a new room starts with
// (a lobby, nobody before a moderator, who may do what). Saved together; the server records
// the change and applies it from the next join.

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
    checkbox('settings-admins-moderate', 'Owners and admins moderate every meeting they join', settings.admins_moderate, (on) => { settings.admins_moderate = on; }),
    h('fieldset', { class: 'field' }, h('legend', {}, 'A new room starts with'),
      checkbox('settings-lobby', 'A lobby: a moderator admits each joiner', settings.new_rooms.lobby, (on) => { settings.new_rooms.lobby = on; }),
      checkbox('settings-wait', 'Nobody in before a moderator', settings.new_rooms.wait_for_moderator, (on) => { settings.new_rooms.wait_for_moderator = on; }),
      h('p', { class: 'field-hint' }, 'Who may, in a new room (its moderators may change it during the meeting):'),
      permissions),
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

/** A labelled checkbox (test id = `id`) that tells `set` each change. */
export function checkbox(id: string, label: string, checked: boolean, set: (on: boolean) => void): HTMLElement {
  const input = h('input', { id, type: 'checkbox', checked, 'data-testid': id });
  input.addEventListener('change', () => set(input.checked));
  return h('label', { class: 'check', for: id }, input, label);
}
