// The administration API (`/api/admin/…`), as the console calls it with the session cookie.
// The server decides what our account's role may do; a refusal comes back as its reason.

export type OrgRole = 'owner' | 'admin' | 'auditor' | 'member';
export const ORG_ROLES: OrgRole[] = ['owner', 'admin', 'auditor', 'member'];

export type Permission = 'read_accounts' | 'manage_accounts' | 'manage_owners' | 'read_audit' | 'manage_tokens';
export const PERMISSIONS: { permission: Permission; label: string }[] = [
  { permission: 'read_accounts', label: 'List accounts' },
  { permission: 'manage_accounts', label: 'Change roles, end sessions' },
  { permission: 'manage_owners', label: 'Name owners' },
  { permission: 'read_audit', label: 'Read the audit log' },
  { permission: 'manage_tokens', label: 'Manage API tokens' },
];

export interface AccountRow { username: string; role: OrgRole; totp: boolean; disabled: boolean }
/** A configured identity provider, as the console lists it (never its secret). */
export interface IdentityProvider { kind: 'oidc' | 'ldap'; name: string; label: string; location: string; role_source: string | null; roles: Record<string, OrgRole> }
export interface TokenRow { id: number; name: string; maker: string; permissions: Permission[]; expires_at: number }

/** What the server answered: the value, or why not (its message, and whether we are signed out
 *  or refused by role). */
export type Answer<T> = { ok: true; value: T } | { ok: false; status: number; message: string };

export async function call<T>(method: string, path: string, body?: unknown): Promise<Answer<T>> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      credentials: 'same-origin',
      cache: 'no-store',
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    return { ok: false, status: 0, message: 'Could not reach the server.' };
  }
  const text = await response.text();
  const json: unknown = text ? JSON.parse(text) : null;
  if (response.ok) return { ok: true, value: json as T };
  const message = typeof (json as { message?: unknown } | null)?.message === 'string' ? (json as { message: string }).message : `The server answered ${response.status}.`;
  return { ok: false, status: response.status, message };
}

export const admin = {
  accounts: () => call<AccountRow[]>('GET', '/api/admin/accounts'),
  setRole: (username: string, role: OrgRole) => call<null>('PUT', `/api/admin/accounts/${encodeURIComponent(username)}/role`, { role }),
  setDisabled: (username: string, disabled: boolean) => call<null>('PUT', `/api/admin/accounts/${encodeURIComponent(username)}/disabled`, { disabled }),
  endSessions: (username: string) => call<{ ended: number }>('DELETE', `/api/admin/accounts/${encodeURIComponent(username)}/sessions`),
  tokens: () => call<TokenRow[]>('GET', '/api/admin/tokens'),
  createToken: (name: string, permissions: Permission[], days: number) => call<{ id: number; token: string; expires_at: number }>('POST', '/api/admin/tokens', { name, permissions, days }),
  revokeToken: (id: number) => call<null>('DELETE', `/api/admin/tokens/${id}`),
  mfaPolicy: () => call<{ policy: string }>('GET', '/api/admin/mfa-policy'),
  setMfaPolicy: (policy: string) => call<{ policy: string }>('PUT', '/api/admin/mfa-policy', { policy }),
  identityProviders: () => call<IdentityProvider[]>('GET', '/api/admin/identity-providers'),
  resetMfa: (username: string) => call<null>('DELETE', `/api/admin/accounts/${encodeURIComponent(username)}/mfa`),
};
