// The console's invitations: invite someone by account name and role (the link is shown once:
// the server keeps only its hash), see those pending, withdraw one. Whoever opens the link
// chooses their password (`ui/invite.ts`).

import { ORG_ROLES, type OrgRole } from '../admin-api';
import { type InviteRow, invites } from '../invites-api';
import { h } from './dom';

export function invitesSection(): HTMLElement {
  const section = h('section', { class: 'access-card', 'aria-labelledby': 'admin-invites-title' });
  const title = h('h2', { id: 'admin-invites-title' }, 'Invitations');
  const status = h('p', { role: 'status', 'data-testid': 'invites-status' });
  const link = h('output', { class: 'admin-new-token', 'data-testid': 'invite-link' });
  const list = h('ul', { class: 'admin-tokens', 'data-testid': 'invites-list' });
  const refresh = async () => {
    const answer = await invites.list();
    if (!answer.ok) { section.replaceChildren(title, h('p', { 'data-testid': 'invites-refused' }, answer.message)); return; }
    list.replaceChildren(...answer.value.map((invite) => inviteRow(invite, status, refresh)));
  };
  const shown = (made: string) => { link.textContent = `${location.origin}${made}`; };
  section.replaceChildren(title, inviteForm(status, shown, refresh), status, link, list);
  void refresh();
  return section;
}

function inviteRow(invite: InviteRow, status: HTMLElement, refresh: () => Promise<void>): HTMLElement {
  const withdraw = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'invite-withdraw' }, 'Withdraw');
  withdraw.addEventListener('click', async () => {
    const withdrawn = await invites.withdraw(invite.id);
    status.textContent = withdrawn.ok ? `The invitation for ${invite.username} was withdrawn.` : `Not withdrawn: ${withdrawn.message}`;
    await refresh();
  });
  const expired = invite.expires_at * 1000 <= Date.now();
  const until = new Date(invite.expires_at * 1000).toISOString().slice(0, 10);
  return h('li', { 'data-testid': 'invite-row', 'data-name': invite.username },
    h('strong', {}, invite.username), ` as ${invite.role}, by ${invite.invited_by}; ${expired ? 'expired' : `until ${until}`} `, withdraw);
}

function inviteForm(status: HTMLElement, shown: (link: string) => void, refresh: () => Promise<void>): HTMLFormElement {
  const name = h('input', { id: 'invite-name', required: true, maxlength: 64, autocomplete: 'off', 'data-testid': 'invite-name' });
  const role = h('select', { id: 'invite-role', 'data-testid': 'invite-role' }, ...ORG_ROLES.map((r) => h('option', { value: r, selected: r === 'member' }, r)));
  const days = h('input', { id: 'invite-days', type: 'number', min: 1, max: 30, value: 7, required: true });
  const form = h('form', { class: 'poll-form', 'data-testid': 'invite-form' },
    h('div', { class: 'field' }, h('label', { for: 'invite-name' }, 'Account name'), name),
    h('div', { class: 'field' }, h('label', { for: 'invite-role' }, 'Role'), role),
    h('div', { class: 'field' }, h('label', { for: 'invite-days' }, 'Days the link holds'), days),
    h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'invite-create' }, 'Invite'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const made = await invites.make(name.value, role.value as OrgRole, days.valueAsNumber);
    if (!made.ok) { status.textContent = `Not invited: ${made.message}`; return; }
    status.textContent = `Send this link to ${made.value.username} yourself; it is not shown again and works once.`;
    shown(made.value.link);
    name.value = '';
    await refresh();
  });
  return form;
}
