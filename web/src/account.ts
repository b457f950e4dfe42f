// Signing in to an account of the server (`/api/session`). The session token travels only in
// the HttpOnly cookie the server sets: the page never holds it, and every request to the
// server, the signalling connection included, carries it by itself.

/** Who the server says we are. `expired`: the browser held a session the server no longer
 *  knows (it expired, or was ended elsewhere); its cookie has been cleared since. */
export type SessionStatus = { signedIn: true; username: string } | { signedIn: false; expired: boolean };

export type SignInResult =
  | { ok: true; username: string }
  /** One answer for a wrong account name, password or code, by design. */
  | { ok: false; reason: 'invalid_credentials' }
  | { ok: false; reason: 'rate_limited'; retryAfterSecs: number }
  | { ok: false; reason: 'failed'; message: string };

const API = '/api/session';

/** Asks the server who we are. A server that cannot be reached counts as signed out. */
export async function currentSession(): Promise<SessionStatus> {
  let response: Response;
  try {
    response = await fetch(API, { credentials: 'same-origin', cache: 'no-store' });
  } catch {
    return { signedIn: false, expired: false };
  }
  const body = await readJson(response);
  if (response.ok && typeof body.username === 'string') return { signedIn: true, username: body.username };
  if (response.status === 401 && body.error === 'session_expired') {
    // The server refuses the stale cookie everywhere, the signalling connection too: dropped,
    // the page is a guest's again.
    await signOut();
    return { signedIn: false, expired: true };
  }
  return { signedIn: false, expired: false };
}

/** `code`: the one-time code, for an account with a second factor (empty: none). */
export async function signIn(username: string, password: string, code: string): Promise<SignInResult> {
  let response: Response;
  try {
    response = await fetch(API, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username, password, ...(code ? { totp_code: code } : {}) }),
    });
  } catch {
    return { ok: false, reason: 'failed', message: 'Could not reach the server. Check your connection and try again.' };
  }
  const body = await readJson(response);
  if (response.ok && typeof body.username === 'string') return { ok: true, username: body.username };
  if (response.status === 401) return { ok: false, reason: 'invalid_credentials' };
  if (response.status === 429) {
    const wait = Number(response.headers.get('Retry-After'));
    return { ok: false, reason: 'rate_limited', retryAfterSecs: Number.isFinite(wait) && wait > 0 ? Math.ceil(wait) : 60 };
  }
  return { ok: false, reason: 'failed', message: typeof body.message === 'string' ? body.message : `The server answered ${response.status}.` };
}

/** An identity provider the server offers ("Sign in with …"). */
export type Provider = { name: string; label: string };

/** The identity providers the server offers; none if it cannot be asked. */
export async function identityProviders(): Promise<Provider[]> {
  try {
    const response = await fetch('/api/auth/providers', { credentials: 'same-origin', cache: 'no-store' });
    const list: unknown = response.ok ? await response.json() : [];
    return Array.isArray(list)
      ? list.filter((p): p is Provider => typeof p?.name === 'string' && typeof p?.label === 'string')
      : [];
  } catch {
    return [];
  }
}

/** Where a provider's sign-in starts: a top-level navigation, as the provider's pages need. */
export function providerSignInUrl(name: string): string {
  return `/auth/oidc/${encodeURIComponent(name)}/start`;
}

/** Ends the session at the server, which clears the cookie; a session a provider opened then
 *  ends at the provider too (the browser goes to its logout page, which sends it back home).
 *  False if the server could not be reached. */
export async function signOut(): Promise<boolean> {
  try {
    const response = await fetch('/api/auth/logout', { method: 'POST', credentials: 'same-origin' });
    const body = await readJson(response);
    if (response.ok && typeof body.end_session === 'string' && /^https?:\/\//.test(body.end_session)) {
      window.location.assign(body.end_session);
    }
    return response.ok;
  } catch {
    return false;
  }
}

async function readJson(response: Response): Promise<Record<string, unknown>> {
  try {
    const value: unknown = await response.json();
    return typeof value === 'object' && value !== null ? value as Record<string, unknown> : {};
  } catch {
    return {};
  }
}
