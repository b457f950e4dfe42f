// The account page (`/account`): the signed-in account's second factors. Set up an
// authenticator app (a QR code of the server's otpauth:// URI, confirmed with a first code),
// add passkeys, see how many recovery codes are left and make new ones (shown once), remove a
// factor. Removing one or making new codes takes a current factor: the code typed in "Current
// code", or else a passkey. An account the organisation's MFA policy covers that has no factor
// is sent here after signing in, and can do nothing else until it enrols one.

import { type Outcome, accountCall, passkeyAnswer, registerPasskey } from '../account';
import { h, icon } from './dom';

type Passkey = { id: number; name: string; created_at: string; last_used_at: string | null };
type Status = {
  username: string;
  required: boolean;
  enrolment_required: boolean;
  totp: boolean;
  recovery_codes_left: number;
  passkeys_available: boolean;
  passkeys: Passkey[];
};

export function renderSecurity(root: HTMLElement, home: () => void): void {
  const main = h('main', { class: 'home-main security', 'data-testid': 'security' });
  const status = h('p', { class: 'account-notice', role: 'status', 'data-testid': 'security-status' });
  // Recovery codes, shown once, outside what a refresh rebuilds.
  const codes = h('section', { class: 'access-card', 'data-testid': 'recovery-codes-shown', hidden: true });
  root.replaceChildren(h('div', { class: 'home' },
    h('header', { class: 'home-header' },
      h('a', { href: '/', class: 'brand', onclick: (e: Event) => { e.preventDefault(); home(); } }, h('span', { class: 'brand-mark' }, icon('lock')), 'Sealroom'),
      h('h1', { class: 'admin-title' }, 'Sign-in security')),
    main));
  document.title = 'Sign-in security — Sealroom';
  const page: Page = {
    say: (text) => { status.textContent = text; },
    showCodes: (list) => {
      codes.hidden = false;
      codes.replaceChildren(h('h2', {}, 'Your recovery codes'),
        h('p', {}, 'Each works once in place of a code from your app. Keep them somewhere safe: they are not shown again.'),
        h('ol', { class: 'recovery-codes', 'data-testid': 'recovery-codes' }, ...list.map((code) => h('li', {}, h('code', {}, code)))));
    },
    refresh: async () => {
      const answer = await accountCall<Status>('GET', '/api/account/mfa');
      if (!answer.ok) {
        main.replaceChildren(status, h('p', { 'data-testid': 'security-refused' }, 'Sign in to see your sign-in security.'));
        return;
      }
      main.replaceChildren(status, ...sections(answer.value, page, home), codes);
    },
    currentCode: h('input', { id: 'current-code', type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '24', 'data-testid': 'current-code' }),
  };
  void page.refresh();
}

type Page = {
  say: (text: string) => void;
  showCodes: (codes: string[]) => void;
  refresh: () => Promise<void>;
  currentCode: HTMLInputElement;
};

function sections(status: Status, page: Page, home: () => void): HTMLElement[] {
  const intro = status.enrolment_required
    ? h('p', { class: 'form-error', 'data-testid': 'enrolment-required' }, 'Your organisation requires a second factor. Set up an authenticator app or a passkey to continue.')
    : h('p', { 'data-testid': 'security-ready' }, `Signed in as ${status.username}. `,
      h('a', { href: '/', onclick: (e: Event) => { e.preventDefault(); home(); } }, 'Continue to Sealroom'));
  const hasFactor = status.totp || status.passkeys.length > 0;
  return [
    intro,
    ...(hasFactor ? [currentCodeField(page)] : []),
    totpSection(status, page),
    passkeySection(status, page),
    ...(hasFactor ? [recoverySection(status, page)] : []),
  ];
}

/** What removing a factor or making codes proves: the typed current code, else a passkey. */
async function proof(page: Page): Promise<Outcome<object>> {
  const code = page.currentCode.value.replace(/\s+/g, '');
  if (code) return { ok: true, value: { code } };
  const answer = await passkeyAnswer();
  return answer.ok ? { ok: true, value: { passkey: answer.value } } : answer;
}

/** Runs a change that takes a current factor, then says how it went and refreshes. */
async function withProof<T>(page: Page, change: (proof: object) => Promise<Outcome<T>>, done: (value: T) => void): Promise<void> {
  const proven = await proof(page);
  const answer = proven.ok ? await change(proven.value) : proven;
  page.currentCode.value = '';
  if (!answer.ok) {
    page.say(answer.error === 'factor_required' ? 'Give a current code from your app, a recovery code, or use a passkey.' : answer.message);
    return;
  }
  done(answer.value);
  await page.refresh();
}

function totpSection(status: Status, page: Page): HTMLElement {
  const title = h('h2', {}, 'Authenticator app');
  if (status.totp) {
    const remove = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'totp-remove' }, 'Remove');
    remove.addEventListener('click', () => void withProof(page, (p) => accountCall('DELETE', '/api/account/totp', p), () => page.say('The authenticator app was removed.')));
    return h('section', { class: 'access-card', 'data-testid': 'totp-on' }, title, h('p', {}, 'On: sign-in asks for its code.'), remove);
  }
  const start = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'totp-start' }, 'Set up an authenticator app');
  const section = h('section', { class: 'access-card', 'data-testid': 'totp-off' }, title, start);
  start.addEventListener('click', async () => {
    const answer = await accountCall<{ uri: string; secret: string; qr: string | null }>('POST', '/api/account/totp');
    if (!answer.ok) { page.say(answer.message); return; }
    section.replaceChildren(title, totpConfirm(answer.value, page));
  });
  return section;
}

function totpConfirm(setup: { uri: string; secret: string; qr: string | null }, page: Page): HTMLElement {
  const code = h('input', { id: 'totp-confirm-code', type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '6', required: true, 'data-testid': 'totp-confirm-code' });
  const form = h('form', { class: 'totp-setup', onsubmit: async (event: Event) => {
    event.preventDefault();
    const answer = await accountCall<{ recovery_codes: string[] | null }>('POST', '/api/account/totp/confirm', { code: code.value.trim() });
    if (!answer.ok) { page.say(answer.error === 'code_wrong' ? 'That code is not right: try the one your app shows now.' : answer.message); return; }
    page.say('The authenticator app is set up.');
    if (answer.value.recovery_codes) page.showCodes(answer.value.recovery_codes);
    await page.refresh();
  } },
  h('p', {}, 'Scan this with your authenticator app, or type the key, then give the code it shows.'),
  setup.qr ? h('img', { src: setup.qr, alt: 'QR code of the authenticator key', class: 'totp-qr', width: '200', height: '200', 'data-testid': 'totp-qr' }) : '',
  h('p', {}, 'Key: ', h('code', { 'data-testid': 'totp-secret' }, setup.secret)),
  h('div', { class: 'field' }, h('label', { for: 'totp-confirm-code' }, 'Code from the app'), code),
  h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'totp-confirm' }, 'Turn on'));
  return form;
}

function passkeySection(status: Status, page: Page): HTMLElement {
  const title = h('h2', {}, 'Passkeys');
  if (!status.passkeys_available) {
    return h('section', { class: 'access-card' }, title, h('p', { class: 'muted' }, 'This server offers no passkeys: its address is not a host name.'));
  }
  const name = h('input', { id: 'passkey-name', type: 'text', maxlength: '64', value: 'Passkey', 'data-testid': 'passkey-name' });
  const add = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'passkey-add' }, 'Add a passkey');
  add.addEventListener('click', async () => {
    add.disabled = true;
    const answer = await registerPasskey(name.value.trim() || 'Passkey');
    add.disabled = false;
    if (!answer.ok) { page.say(answer.message); return; }
    page.say('The passkey was added.');
    if (answer.value.recovery_codes) page.showCodes(answer.value.recovery_codes);
    await page.refresh();
  });
  const rows = status.passkeys.map((key) => {
    const remove = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'passkey-remove' }, 'Remove');
    remove.addEventListener('click', () => void withProof(page, (p) => accountCall('DELETE', `/api/account/passkeys/${key.id}`, p), () => page.say('The passkey was removed.')));
    return h('li', { 'data-testid': 'passkey-row' }, h('span', {}, key.name), h('span', { class: 'muted small' }, key.last_used_at ? ` last used ${key.last_used_at}` : ' never used'), remove);
  });
  return h('section', { class: 'access-card', 'data-testid': 'passkeys' }, title,
    h('ul', { class: 'passkey-list' }, ...rows),
    h('div', { class: 'field' }, h('label', { for: 'passkey-name' }, 'Name of the new passkey'), name), add);
}

function recoverySection(status: Status, page: Page): HTMLElement {
  const renew = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'recovery-renew' }, 'Make new codes');
  renew.addEventListener('click', () => void withProof(page, (p) => accountCall<{ recovery_codes: string[] }>('POST', '/api/account/recovery-codes', p), (value) => {
    page.say('New recovery codes: the old ones no longer work.');
    page.showCodes(value.recovery_codes);
  }));
  return h('section', { class: 'access-card' }, h('h2', {}, 'Recovery codes'),
    h('p', { 'data-testid': 'recovery-left' }, `${status.recovery_codes_left} unused.`), renew);
}

/** The current factor that removing one or making new codes takes. */
function currentCodeField(page: Page): HTMLElement {
  return h('div', { class: 'field' }, h('label', { for: 'current-code' }, 'To remove a factor or make new recovery codes: a current code from your app or a recovery code (empty: use a passkey)'), page.currentCode);
}
