// The administration console (`/org/admin`): the organisation's accounts with their roles
// (change a role, sign an account out everywhere, reset second factors, disable), invitations
// (`admin-invites`), API tokens for scripts (make one, shown once; revoke), the organisation's
// settings, its identity providers (as configured), the MFA policy, its persistent rooms and the audit log (search, check, download). Every action is the server's
// to allow: the console shows what it answered, and a role without administration sees why
// instead of empty tables.

import { type AccountRow, ORG_ROLES, type OrgRole, PERMISSIONS, type Permission, type TokenRow, admin } from '../admin-api';
import { auditSection } from './admin-audit';
import { invitesSection } from './admin-invites';
import { mfaSection } from './admin-mfa';
import { providersSection } from './admin-providers';
import { roomsSection } from './admin-rooms';
import { settingsSection } from './admin-settings';
import { h, icon } from './dom';

export function renderAdmin(root: HTMLElement, home: () => void): void {
  const status = h('p', { class: 'account-notice', role: 'status', 'data-testid': 'admin-status' });
  const accounts = h('section', { class: 'access-card', 'aria-labelledby': 'admin-accounts-title' });
  const tokens = h('section', { class: 'access-card', 'aria-labelledby': 'admin-tokens-title' });
  const say = (text: string) => { status.textContent = text; };
  // A new token, shown once (the server keeps only its hash), outside what a refresh rebuilds.
  const newToken = h('output', { class: 'admin-new-token', 'data-testid': 'admin-new-token' });
  const reveal = (token: string) => { newToken.textContent = token; };
  root.replaceChildren(h('div', { class: 'home' },
    h('header', { class: 'home-header' },
      h('a', { href: '/', class: 'brand', onclick: (e: Event) => { e.preventDefault(); home(); } }, h('span', { class: 'brand-mark' }, icon('lock')), 'Sealroom'),
      h('h1', { class: 'admin-title' }, 'Administration')),
    h('main', { class: 'home-main admin' }, status, accounts, invitesSection(), tokens, newToken, settingsSection(), providersSection(), mfaSection(say), roomsSection(), auditSection())));
  document.title = 'Administration — Sealroom';
  const refresh = async () => {
    await showAccounts(accounts, say, refresh);
    await showTokens(tokens, { say, reveal }, refresh);
  };
  void refresh();
}

type Say = (text: string) => void;
type Tell = { say: Say; reveal: (token: string) => void };

async function showAccounts(section: HTMLElement, say: Say, refresh: () => Promise<void>): Promise<void> {
  const answer = await admin.accounts();
  const title = h('h2', { id: 'admin-accounts-title' }, 'Accounts');
  if (!answer.ok) {
    section.replaceChildren(title, h('p', { 'data-testid': 'admin-refused' }, refusal(answer.status, answer.message)));
    return;
  }
  section.replaceChildren(title, h('table', { class: 'admin-table', 'data-testid': 'admin-accounts' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Account'), h('th', {}, 'Role'), h('th', {}, 'Second factor'), h('th', {}, 'Sessions'))),
    h('tbody', {}, ...answer.value.map((row) => accountRow(row, say, refresh)))));
}

function accountRow(row: AccountRow, say: Say, refresh: () => Promise<void>): HTMLElement {
  const role = h('select', { 'aria-label': `Role of ${row.username}`, 'data-testid': 'admin-role' },
    ...ORG_ROLES.map((r) => h('option', { value: r, selected: r === row.role }, r)));
  role.addEventListener('change', async () => {
    const changed = await admin.setRole(row.username, role.value as OrgRole);
    say(changed.ok ? `${row.username} is now ${role.value}.` : `Not changed: ${changed.message}`);
    await refresh();
  });
  const signOut = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'admin-end-sessions' }, 'Sign out everywhere');
  signOut.addEventListener('click', async () => {
    const ended = await admin.endSessions(row.username);
    say(ended.ok ? `${row.username} was signed out of ${ended.value.ended} session(s).` : `Not signed out: ${ended.message}`);
  });
  // For someone who lost their factors: all go, and the next sign-in follows the MFA policy.
  const resetMfa = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'admin-reset-mfa' }, 'Reset second factors');
  resetMfa.addEventListener('click', async () => {
    const reset = await admin.resetMfa(row.username);
    say(reset.ok ? `${row.username}'s second factors were removed and their sessions ended.` : `Not reset: ${reset.message}`);
    await refresh();
  });
  return h('tr', { 'data-testid': 'admin-account', 'data-name': row.username, 'data-disabled': String(row.disabled) },
    h('td', {}, row.username), h('td', {}, role), h('td', {}, row.totp ? 'TOTP' : '—', resetMfa),
    h('td', {}, signOut, disableButton(row, say, refresh)));
}

/** Disables the account (it signs in no way, its sessions end) or enables it again. */
function disableButton(row: AccountRow, say: Say, refresh: () => Promise<void>): HTMLElement {
  const button = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'admin-disable' }, row.disabled ? 'Enable' : 'Disable');
  button.addEventListener('click', async () => {
    const changed = await admin.setDisabled(row.username, !row.disabled);
    say(changed.ok ? `${row.username} is ${row.disabled ? 'enabled' : 'disabled'}.` : `Not changed: ${changed.message}`);
    await refresh();
  });
  return button;
}

async function showTokens(section: HTMLElement, tell: Tell, refresh: () => Promise<void>): Promise<void> {
  const answer = await admin.tokens();
  const title = h('h2', { id: 'admin-tokens-title' }, 'API tokens');
  if (!answer.ok) {
    section.replaceChildren(title, h('p', {}, refusal(answer.status, answer.message)));
    return;
  }
  section.replaceChildren(title, tokenForm(tell, refresh), h('ul', { class: 'admin-tokens', 'data-testid': 'admin-tokens' },
    ...answer.value.map((token) => tokenRow(token, tell.say, refresh))));
}

function tokenRow(token: TokenRow, say: Say, refresh: () => Promise<void>): HTMLElement {
  const revoke = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'admin-revoke-token' }, 'Revoke');
  revoke.addEventListener('click', async () => {
    const revoked = await admin.revokeToken(token.id);
    say(revoked.ok ? `Token ${token.name} revoked.` : `Not revoked: ${revoked.message}`);
    await refresh();
  });
  const expires = new Date(token.expires_at * 1000).toISOString().slice(0, 10);
  return h('li', { 'data-testid': 'admin-token', 'data-name': token.name },
    h('strong', {}, token.name), ` by ${token.maker}: ${token.permissions.join(', ')}; until ${expires} `, revoke);
}

function tokenForm({ say, reveal }: Tell, refresh: () => Promise<void>): HTMLFormElement {
  const name = h('input', { id: 'admin-token-name', maxlength: 64, required: true, 'data-testid': 'admin-token-name' });
  const days = h('input', { id: 'admin-token-days', type: 'number', min: 1, max: 365, value: 90, required: true });
  const boxes = PERMISSIONS.map(({ permission, label }) => ({ permission, box: h('input', { type: 'checkbox', value: permission, 'data-testid': `admin-token-${permission}` }), label }));
  const form = h('form', { class: 'poll-form' },
    h('div', { class: 'field' }, h('label', { for: 'admin-token-name' }, 'Name'), name),
    h('fieldset', { class: 'field' }, h('legend', {}, 'What it may do'), ...boxes.map(({ box, label }) => h('label', { class: 'check' }, box, label))),
    h('div', { class: 'field' }, h('label', { for: 'admin-token-days' }, 'Days until it expires'), days),
    h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'admin-token-create' }, 'Make a token'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const chosen: Permission[] = boxes.filter(({ box }) => box.checked).map(({ permission }) => permission);
    const made = await admin.createToken(name.value, chosen, days.valueAsNumber);
    if (!made.ok) { say(`No token made: ${made.message}`); return; }
    say(`Token ${name.value} made. Copy it now: it is not shown again.`);
    reveal(made.value.token);
    await refresh();
  });
  return form;
}

function refusal(status: number, message: string): string {
  if (status === 401) return 'Sign in to an account first.';
  if (status === 403) return `Your account's role does not allow this (${message}).`;
  return message;
}
