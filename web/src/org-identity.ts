// The page's side of organisational identity (the rules are the MLS core's, in
// sealroom-participant): it fetches the organisation key this server presents, keeps the key
// this browser pinned for the server on first use (localStorage, which is per origin), and,
// signed in, asks for the binding of this device's key to the account that our MLS leaf then
// carries. Nothing here stops a join: what fails is a warning, and the roster then names no
// account.

import { fromBase64Url, toBase64Url } from './protocol';

/** Where this browser keeps the organisation key it pinned for this server. */
const PIN_KEY = 'sealroom.organisationKey';
/** A server that does not answer delays the join no longer than this. */
const REQUEST_TIMEOUT_MS = 10_000;

/** What a join knows of the organisation: the key pinned and the one presented, our binding,
 *  and what could not be had. */
export interface OrgSetup {
  pinned: Uint8Array | null;
  presented: Uint8Array | null;
  binding: Uint8Array | null;
  problems: string[];
}

/** Fetches the key the server presents and, if we are signed in, the binding of
 *  `devicePublicKey` to our account; loads the pin. A guest gets no binding, and that is no
 *  problem. */
export async function prepareOrgIdentity(devicePublicKey: Uint8Array): Promise<OrgSetup> {
  const problems: string[] = [];
  const problem = (e: unknown): null => {
    problems.push(`Organisation identity: ${e instanceof Error ? e.message : String(e)}`);
    return null;
  };
  const [presented, binding] = await Promise.all([
    fetchKey().catch(problem),
    fetchBinding(devicePublicKey).catch(problem),
  ]);
  return { pinned: loadPin(), presented, binding, problems };
}

/** Keeps `key` as this server's organisation key: the MLS core saw it first here. */
export function pinOrganisationKey(key: Uint8Array): void {
  try {
    localStorage.setItem(PIN_KEY, toBase64Url(key));
  } catch {
    // Storage refused (a private window): the pin lasts this join only, as the core holds it.
  }
}

function loadPin(): Uint8Array | null {
  const text = localStorage.getItem(PIN_KEY);
  return text ? fromBase64Url(text) : null;
}

async function fetchKey(): Promise<Uint8Array> {
  const answer = await requestJson('/api/org/identity-key', { method: 'GET' });
  if (typeof answer?.key !== 'string') throw new Error('the server sent no organisation key');
  return fromBase64Url(answer.key);
}

/** Our binding, or null when we are not signed in. */
async function fetchBinding(devicePublicKey: Uint8Array): Promise<Uint8Array | null> {
  const answer = await requestJson('/api/account/identity-binding', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ device_key: toBase64Url(devicePublicKey) }),
  });
  if (answer === null) return null;
  if (typeof answer.binding !== 'string') throw new Error('the server sent no binding');
  return fromBase64Url(answer.binding);
}

/** One JSON request with our session cookie: the answer, null if we are signed out. */
async function requestJson(path: string, init: RequestInit): Promise<Record<string, unknown> | null> {
  const response = await fetch(path, { ...init, credentials: 'same-origin', cache: 'no-store', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  if (response.status === 401) return null;
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return (await response.json()) as Record<string, unknown>;
}
