// Invitations: the console invites an account by name and role (`/api/admin/invites`, the
// link's token shown once), and the invitee's page reads and accepts one (`/api/invite`), which
// makes the account with the password they choose and signs it in.

import { type Answer, type OrgRole, call } from './admin-api';

export interface InviteRow { id: number; username: string; role: OrgRole; invited_by: string; expires_at: number }
export interface MadeInvite { id: number; username: string; role: OrgRole; expires_at: number; link: string }

export const invites = {
  list: (): Promise<Answer<InviteRow[]>> => call<InviteRow[]>('GET', '/api/admin/invites'),
  make: (username: string, role: OrgRole, days: number): Promise<Answer<MadeInvite>> => call<MadeInvite>('POST', '/api/admin/invites', { username, role, days }),
  withdraw: (id: number): Promise<Answer<null>> => call<null>('DELETE', `/api/admin/invites/${id}`),
  /** What the invitation `token` offers. */
  read: (token: string): Promise<Answer<InviteRow>> => call<InviteRow>('POST', '/api/invite', { token }),
  /** Makes the account and signs it in (the session travels in the cookie). */
  accept: (token: string, password: string): Promise<Answer<{ username: string; mfa?: string }>> => call<{ username: string; mfa?: string }>('POST', '/api/invite/accept', { token, password }),
};

/** The invitation token in a link's fragment (`#t=…`); null if there is none. */
export function inviteTokenIn(fragment: string): string | null {
  const token = new URLSearchParams(fragment).get('t');
  return token && /^[A-Za-z0-9_-]{16,128}$/.test(token) ? token : null;
}
