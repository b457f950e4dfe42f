// The console's identity providers: each OpenID Connect provider and LDAP or Active Directory
// directory the server's configuration names, where it is and how its claims or groups map to
// roles (the server never sends their secrets). They are changed in the configuration file,
// which the server reads at start.

import { type IdentityProvider, admin } from '../admin-api';
import { h } from './dom';

export function providersSection(): HTMLElement {
  const section = h('section', { class: 'access-card', 'aria-labelledby': 'admin-providers-title' });
  const title = h('h2', { id: 'admin-providers-title' }, 'Identity providers');
  section.replaceChildren(title);
  void admin.identityProviders().then((answer) => {
    if (!answer.ok) { section.replaceChildren(title, h('p', { 'data-testid': 'providers-refused' }, answer.message)); return; }
    const note = h('p', { class: 'muted small' }, 'Set in the configuration file ([[oidc]] and [[ldap]] tables, docs/sign-in.md); the server reads them when it starts.');
    section.replaceChildren(title, note, answer.value.length
      ? h('ul', { class: 'admin-tokens', 'data-testid': 'providers-list' }, ...answer.value.map(providerRow))
      : h('p', { 'data-testid': 'providers-none' }, 'None: people sign in with this server\'s own accounts.'));
  });
  return section;
}

function providerRow(provider: IdentityProvider): HTMLElement {
  const kind = provider.kind === 'oidc' ? 'OpenID Connect' : 'LDAP directory';
  const mapped = Object.entries(provider.roles).map(([from, role]) => `${from} → ${role}`);
  const roles = mapped.length ? `roles from ${provider.role_source ?? '?'}: ${mapped.join('; ')}` : 'everyone a member';
  return h('li', { 'data-testid': 'provider-row', 'data-name': provider.name },
    h('strong', {}, provider.label), ` (${kind}, ${provider.name}) at `, h('code', {}, provider.location), `; ${roles}; otherwise member`);
}
