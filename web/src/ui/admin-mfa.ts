// The console's MFA policy: who must have a second factor (nobody, everyone, owners and admins,
// or accounts that sign in with a password here rather than through an identity provider). An
// account it covers that has none can, once signed in, only enrol one. The server records the
// change and applies it from the next sign-in.

import { admin } from '../admin-api';
import { h } from './dom';

const CHOICES: { value: string; label: string }[] = [
  { value: 'off', label: 'Nobody (a factor someone enrolled is still asked for)' },
  { value: 'everyone', label: 'Everyone' },
  { value: 'owner,admin', label: 'Owners and admins' },
  { value: 'local_accounts', label: 'Accounts without an identity provider' },
];

export function mfaSection(say: (text: string) => void): HTMLElement {
  const title = h('h2', { id: 'admin-mfa-title' }, 'Second factors');
  const section = h('section', { class: 'access-card', 'aria-labelledby': 'admin-mfa-title' }, title);
  void admin.mfaPolicy().then((answer) => {
    if (!answer.ok) {
      section.replaceChildren(title, h('p', { 'data-testid': 'mfa-policy-refused' }, answer.message));
      return;
    }
    const known = CHOICES.some((c) => c.value === answer.value.policy);
    const choices = known ? CHOICES : [...CHOICES, { value: answer.value.policy, label: answer.value.policy }];
    const select = h('select', { id: 'mfa-policy', 'data-testid': 'mfa-policy' },
      ...choices.map((c) => h('option', { value: c.value, selected: c.value === answer.value.policy }, c.label)));
    const save = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'mfa-policy-save' }, 'Save');
    save.addEventListener('click', async () => {
      const saved = await admin.setMfaPolicy(select.value);
      say(saved.ok ? `Second factors are now required of: ${saved.value.policy}.` : `Not changed: ${saved.message}`);
    });
    section.replaceChildren(title,
      h('div', { class: 'field' }, h('label', { for: 'mfa-policy' }, 'Who must have a second factor'), select), save);
  });
  return section;
}
