// Fingerprints the user marked as verified, per display name, in localStorage. A verified name
// that later shows another key is flagged: someone else may be using that name.

const KEY = 'sealroom.verified.v1';

function load(): Record<string, string> {
  try {
    const value: unknown = JSON.parse(localStorage.getItem(KEY) ?? '{}');
    return typeof value === 'object' && value !== null ? (value as Record<string, string>) : {};
  } catch {
    return {};
  }
}

export type Verification = 'verified' | 'unverified' | 'changed';

export function verification(name: string, fingerprint: string): Verification {
  const known = load()[name];
  if (known === undefined) return 'unverified';
  return known === fingerprint ? 'verified' : 'changed';
}

export function markVerified(name: string, fingerprint: string): void {
  const all = load();
  all[name] = fingerprint;
  localStorage.setItem(KEY, JSON.stringify(all));
}

export function forget(name: string): void {
  const all = load();
  delete all[name];
  localStorage.setItem(KEY, JSON.stringify(all));
}
