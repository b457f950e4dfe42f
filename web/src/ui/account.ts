// The home page's account control: "Sign in" (a form for the account name, the password — this
// server's or a directory's — and, for an account with a second factor, its one-time code or a
// passkey; or a passkey alone), or "Signed in as …", "Sign-in security" and "Sign out". A
// sign-in that may only enrol a second factor goes to the account page.
// Accounts are made by the server's admin, a directory or an identity provider; whoever does
// not sign in joins as a guest.

import { type SignInResult, currentSession, directories, passkeyAnswer, signIn, signInWithPasskey, signOut } from '../account';
import { h, icon } from './dom';
import type { RosterMember } from 'sealroom-wasm';

/** Who someone is, as the server vouches: "signed in as …", or "Guest" (null: neither known). */
export function accountBadge(account: string | null | undefined, guest: boolean): HTMLElement | null {
  if (account) return h('span', { class: 'pill account', 'data-testid': 'account-badge', title: `The server vouches that they signed in to the account ${account}` }, `signed in as ${account}`);
  return guest ? h('span', { class: 'pill', 'data-testid': 'guest-badge', title: 'Joined without signing in' }, 'Guest') : null;
}

/** Who someone is, as the organisation vouches in their MLS leaf, checked by our core against
 *  the organisation key this browser pinned: not the server's word. A binding the core refused
 *  is shown as a warning (a forged or stale one, or one under another organisation key). */
export function orgIdentityBadge(member: RosterMember): HTMLElement | null {
  if (member.orgIdentity) {
    return h('span', { class: 'pill ok', 'data-testid': 'org-identity-badge', title: `Your organisation's key signed that this encryption key belongs to the account ${member.orgIdentity}` },
      icon('check'), `${member.orgIdentity}, verified by your organisation`);
  }
  if (member.orgBinding === 'none' || member.orgBinding === 'verified') return null;
  return h('span', { class: 'pill danger', 'data-testid': 'org-binding-refused', 'data-reason': member.orgBinding, title: `Their organisation binding does not hold (${member.orgBinding.replace(/_/g, ' ')}): no account is vouched for` },
    'Organisation identity not verified');
}

/** Where the signed-in account's second factors are managed. */
const SECURITY_PAGE = '/account/security';

export function accountControl(): HTMLElement {
  const area = h('div', { class: 'account', 'data-testid': 'account', 'data-state': 'loading' });
  const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': 'sign-in-title' });

  function showSignedOut(notice = ''): void {
    area.dataset.state = 'signed-out';
    area.replaceChildren(
      h('span', { class: 'account-notice', role: 'status', 'data-testid': 'session-notice', hidden: !notice }, notice),
      h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'sign-in-button', onclick: () => openSignInForm(dialog, showSignedIn) }, 'Sign in'),
      dialog);
  }

  function showSignedIn(username: string): void {
    area.dataset.state = 'signed-in';
    const error = h('span', { class: 'form-error', role: 'alert', 'data-testid': 'sign-out-error', hidden: true });
    const button = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'sign-out-button' }, 'Sign out');
    button.addEventListener('click', async () => {
      button.disabled = true;
      if (await signOut()) {
        showSignedOut('Signed out.');
        return;
      }
      button.disabled = false;
      error.textContent = 'Could not reach the server to sign out.';
      error.hidden = false;
    });
    // The console says itself what the account's role allows.
    const console = h('a', { href: '/org/admin', class: 'btn btn-small', 'data-testid': 'admin-link' }, 'Administration');
    const security = h('a', { href: SECURITY_PAGE, class: 'btn btn-small', 'data-testid': 'security-link' }, 'Sign-in security');
    area.replaceChildren(
      h('span', { class: 'account-name', 'data-testid': 'signed-in-as' }, 'Signed in as ', h('strong', {}, username)),
      security, console, button, error);
  }


  void currentSession().then((session) => {
    if (session.signedIn && session.enrolmentRequired) window.location.assign(SECURITY_PAGE);
    if (session.signedIn) showSignedIn(session.username);
    else showSignedOut(session.expired ? 'Your sign-in has expired. Sign in again.' : '');
  });
  return area;
}

/** Opens the sign-in dialog; `signedIn` gets the account once the server let it in (a sign-in
 *  that may only enrol a second factor goes to the account page instead). */
function openSignInForm(dialog: HTMLDialogElement, signedIn: (username: string) => void): void {
  const username = h('input', {
    id: 'sign-in-username', type: 'text', maxlength: '64', required: true, autocomplete: 'username',
    autocapitalize: 'none', spellcheck: 'false', 'data-testid': 'sign-in-username',
  });
  const password = h('input', { id: 'sign-in-password', type: 'password', required: true, autocomplete: 'current-password', 'data-testid': 'sign-in-password' });
  const code = h('input', {
    id: 'sign-in-code', type: 'text', maxlength: '10', inputmode: 'numeric', autocomplete: 'one-time-code',
    'data-testid': 'sign-in-code', 'aria-describedby': 'sign-in-code-hint',
  });
  // Shown only when the server has directories: whose password the name and password are.
  const directory = h('select', { id: 'sign-in-directory', 'data-testid': 'sign-in-directory' }, h('option', { value: '' }, "This server's accounts"));
  const directoryField = h('div', { class: 'field', hidden: true }, h('label', { for: 'sign-in-directory' }, 'Sign in to'), directory);
  void directories().then((list) => {
    directory.append(...list.map((d) => h('option', { value: d.name }, d.label)));
    directoryField.hidden = list.length === 0;
  });
  const error = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'sign-in-error' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'sign-in-submit' }, 'Sign in');
  let countdown = 0;
  /** Refused for too many attempts: the form waits it out, the seconds counting down. */
  const waitOut = (secs: number) => {
    const until = performance.now() + secs * 1000;
    const tick = () => {
      const left = Math.ceil((until - performance.now()) / 1000);
      submit.disabled = left > 0;
      error.textContent = left > 0 ? `Too many sign-in attempts. Try again in ${left} s.` : '';
      if (left <= 0) window.clearInterval(countdown);
    };
    tick();
    countdown = window.setInterval(tick, 250);
  };
  const finish = (result: SignInResult) => {
    submit.disabled = false;
    if (result.ok) {
      dialog.close();
      if (result.enrolmentRequired) window.location.assign(SECURITY_PAGE);
      else signedIn(result.username);
      return;
    }
    password.value = '';
    code.value = '';
    if (result.reason === 'rate_limited') waitOut(result.retryAfterSecs);
    else error.textContent = result.reason === 'invalid_credentials' ? 'The account name, the password or the one-time code is wrong.' : result.message;
    password.focus();
  };
  const submitWith = async (second: 'code' | 'passkey') => {
    submit.disabled = true;
    error.textContent = '';
    const answer = second === 'passkey' ? await passkeyAnswer() : null;
    if (answer && !answer.ok) { finish({ ok: false, reason: 'failed', message: answer.message }); return; }
    finish(await signIn(username.value.trim(), password.value, code.value.replace(/\s+/g, ''), answer?.value, directory.value || undefined));
  };
  const withPasskey = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'sign-in-passkey-second', onclick: () => {
    if (form.reportValidity()) void submitWith('passkey');
  } }, 'Use a passkey instead of a code');
  const passkeyOnly = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'sign-in-passkey', onclick: async () => {
    error.textContent = '';
    finish(await signInWithPasskey());
  } }, 'Sign in with a passkey');
  const form = h('form', { onsubmit: (event: Event) => {
    event.preventDefault();
    void submitWith('code');
  } },
    h('div', { class: 'dialog-head' }, h('h2', { id: 'sign-in-title' }, 'Sign in'),
      h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close', onclick: () => dialog.close() }, icon('close'))),
    h('p', { class: 'muted small' }, 'With an account of this server you join as a member, and moderate a meeting you enter while no moderator is in it. Without one you join as a guest.'),
    directoryField,
    h('div', { class: 'field' }, h('label', { for: 'sign-in-username' }, 'Account name'), username),
    h('div', { class: 'field' }, h('label', { for: 'sign-in-password' }, 'Password'), password),
    h('div', { class: 'field' }, h('label', { for: 'sign-in-code' }, 'One-time code'), code,
      h('p', { class: 'field-hint', id: 'sign-in-code-hint' }, 'Only if your account has a second factor: the code your authenticator app shows, or a recovery code.')),
    error,
    h('div', { class: 'dialog-actions' },
      h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => dialog.close() }, 'Cancel'), submit),
    h('div', { class: 'dialog-actions sign-in-passkeys' }, withPasskey, passkeyOnly));
  dialog.addEventListener('close', () => window.clearInterval(countdown), { once: true });
  dialog.replaceChildren(form);
  dialog.showModal();
  username.focus();
}
