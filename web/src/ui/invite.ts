// The invitation page (`/account/invite#t=…`): says which account the link makes, with which
// role and who invited, and makes it with the password the invitee chooses (checked by the
// server's account password policy), which signs them in. The token stays in the fragment,
// which the browser never sends to the server but in these requests' bodies.

import { type InviteRow, inviteTokenIn, invites } from '../invites-api';
import { h, icon } from './dom';

export function renderInvite(root: HTMLElement, home: () => void): void {
  document.title = 'Invitation — Sealroom';
  const card = h('div', { class: 'card', 'data-testid': 'invite-card' });
  root.replaceChildren(h('main', { class: 'center-card' }, card));
  const token = inviteTokenIn(location.hash.slice(1));
  if (!token) {
    card.replaceChildren(h('h1', {}, 'This invitation link is incomplete'), h('p', { 'data-testid': 'invite-error' }, 'Open the whole link you were sent.'));
    return;
  }
  void invites.read(token).then((answer) => {
    if (!answer.ok) {
      card.replaceChildren(h('h1', {}, 'This invitation cannot be used'), h('p', { 'data-testid': 'invite-error' }, answer.message));
      return;
    }
    card.replaceChildren(...acceptForm(answer.value, token, home));
  });
}

function acceptForm(invite: InviteRow, token: string, home: () => void): HTMLElement[] {
  const password = h('input', { id: 'invite-password', type: 'password', autocomplete: 'new-password', required: true, 'data-testid': 'invite-password' });
  const again = h('input', { id: 'invite-password-again', type: 'password', autocomplete: 'new-password', required: true, 'data-testid': 'invite-password-again' });
  const error = h('p', { class: 'danger-text', role: 'alert', 'data-testid': 'invite-error' });
  const form = h('form', { class: 'poll-form' },
    h('div', { class: 'field' }, h('label', { for: 'invite-password' }, 'Choose a password (a long passphrase is best)'), password),
    h('div', { class: 'field' }, h('label', { for: 'invite-password-again' }, 'The same password again'), again),
    error,
    h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'invite-accept' }, 'Make my account'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (password.value !== again.value) { error.textContent = 'The two passwords differ.'; return; }
    const accepted = await invites.accept(token, password.value);
    if (!accepted.ok) { error.textContent = accepted.message; return; }
    // Spent: the link is of no more use, and the address should not keep it.
    history.replaceState(null, '', location.pathname);
    home();
  });
  return [
    h('span', { class: 'card-icon' }, icon('people')),
    h('h1', {}, `You are invited as ${invite.username}`),
    h('p', { 'data-testid': 'invite-offer' }, `${invite.invited_by} invited you to this organisation's Sealroom as ${invite.role}. Choose your password to make the account; you are then signed in.`),
    form,
  ];
}
