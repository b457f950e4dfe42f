// Signing in to an account of the server (`/api/session`). The session token travels only in
// the HttpOnly cookie the server sets: the page never holds it, and every request to the
// server, the signalling connection included, carries it by itself.

/** Who the server says we are. `expired`: the browser held a session the server no longer
 *  knows (it expired, or was ended elsewhere); its cookie has been cleared since. */
export type SessionStatus = { signedIn: true; username: string; enrolmentRequired: boolean } | { signedIn: false; expired: boolean };

export type SignInResult =
  /** `enrolmentRequired`: the organisation requires a second factor the account lacks; the
   *  session may only enrol one (the account page). */
  | { ok: true; username: string; enrolmentRequired: boolean }
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
  if (response.ok && typeof body.username === 'string') {
    return { signedIn: true, username: body.username, enrolmentRequired: body.mfa === 'enrolment_required' };
  }
  if (response.status === 401 && body.error === 'session_expired') {
    // The server refuses the stale cookie everywhere, the signalling connection too: dropped,
    // the page is a guest's again.
    await signOut();
    return { signedIn: false, expired: true };
  }
  return { signedIn: false, expired: false };
}

/** `code`: the one-time or recovery code, for an account with a second factor (empty: none);
 *  `passkey`: a passkey's answer instead (see `passkeyAnswer`); `directory`: the LDAP or Active
 *  Directory directory that checks the password (none: this server's own accounts). */
export async function signIn(username: string, password: string, code: string, passkey?: PasskeyAnswer, directory?: string): Promise<SignInResult> {
  const path = directory ? `/api/auth/ldap/${encodeURIComponent(directory)}` : API;
  return postSignIn(path, { username, password, ...(code ? { totp_code: code } : {}), ...(passkey ? { passkey } : {}) });
}

/** Signs in with a passkey alone (a discoverable credential names its account). */
export async function signInWithPasskey(): Promise<SignInResult> {
  const answer = await passkeyAnswer();
  if (!answer.ok) return { ok: false, reason: 'failed', message: answer.message };
  return postSignIn('/api/session/passkey', answer.value);
}

async function postSignIn(path: string, request: unknown): Promise<SignInResult> {
  let response: Response;
  try {
    response = await fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(request),
    });
  } catch {
    return { ok: false, reason: 'failed', message: 'Could not reach the server. Check your connection and try again.' };
  }
  const body = await readJson(response);
  if (response.ok && typeof body.username === 'string') {
    return { ok: true, username: body.username, enrolmentRequired: body.mfa === 'enrolment_required' };
  }
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
export function identityProviders(): Promise<Provider[]> {
  return namedList('/api/auth/providers');
}

/** The LDAP and Active Directory directories the sign-in form offers; none if it cannot be
 *  asked. */
export function directories(): Promise<Provider[]> {
  return namedList('/api/auth/directories');
}

async function namedList(path: string): Promise<Provider[]> {
  try {
    const response = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
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

/** A passkey's answer to a sign-in ceremony, as the server takes it. */
export type PasskeyAnswer = { ceremony: string; credential: unknown };

/** What an account call answered: the value, or the server's message. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; status: number; error: string; message: string };

/** A JSON call to the account routes, with the session cookie. */
export async function accountCall<T>(method: string, path: string, body: unknown = {}): Promise<Outcome<T>> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      credentials: 'same-origin',
      cache: 'no-store',
      headers: method === 'GET' ? {} : { 'Content-Type': 'application/json' },
      body: method === 'GET' ? undefined : JSON.stringify(body),
    });
  } catch {
    return { ok: false, status: 0, error: 'unreachable', message: 'Could not reach the server.' };
  }
  const json = await readJson(response);
  if (response.ok) return { ok: true, value: json as T };
  const message = typeof json.message === 'string' ? json.message : `The server answered ${response.status}.`;
  return { ok: false, status: response.status, error: typeof json.error === 'string' ? json.error : '', message };
}

/** Asks the browser's passkey for an answer to a fresh sign-in ceremony of the server. */
export async function passkeyAnswer(): Promise<Outcome<PasskeyAnswer>> {
  const options = await accountCall<{ ceremony: string; publicKey: PublicKeyCredentialRequestOptionsJSON }>('POST', '/api/session/passkey/options');
  if (!options.ok) return options;
  try {
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options.value.publicKey);
    const credential = await navigator.credentials.get({ publicKey });
    if (!(credential instanceof PublicKeyCredential)) throw new Error('no passkey');
    return { ok: true, value: { ceremony: options.value.ceremony, credential: credential.toJSON() } };
  } catch (e) {
    return { ok: false, status: 0, error: 'passkey_cancelled', message: `No passkey answered (${e instanceof Error ? e.name : String(e)}).` };
  }
}

/** Registers a new passkey for the signed-in account, named `name`: recovery codes if it is the
 *  account's first factor. Passkeys are made discoverable, so they sign in without a name. */
export async function registerPasskey(name: string): Promise<Outcome<{ id: number; recovery_codes: string[] | null }>> {
  const options = await accountCall<{ ceremony: string; publicKey: PublicKeyCredentialCreationOptionsJSON }>('POST', '/api/account/passkeys/options');
  if (!options.ok) return options;
  try {
    const selection: AuthenticatorSelectionCriteria = { ...options.value.publicKey.authenticatorSelection, residentKey: 'required', requireResidentKey: true };
    const json: PublicKeyCredentialCreationOptionsJSON = { ...options.value.publicKey, authenticatorSelection: selection };
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(json);
    const credential = await navigator.credentials.create({ publicKey });
    if (!(credential instanceof PublicKeyCredential)) throw new Error('no passkey');
    return accountCall('POST', '/api/account/passkeys', { ceremony: options.value.ceremony, name, credential: credential.toJSON() });
  } catch (e) {
    return { ok: false, status: 0, error: 'passkey_cancelled', message: `No passkey was made (${e instanceof Error ? e.name : String(e)}).` };
  }
}
