// The bundle hash as the server describes its web client: the SHA-256 of the manifest it
// serves at /api/web-bundle, which lists the SHA-256 of every file it serves (the definition
// `sealroom verify-web` computes over the files it fetches). It is the server's word only: a
// compromised server could serve other code beside this same manifest.

import { toHex } from './hex';

let served: Promise<string | null> | undefined;

/** The hash in lowercase hex, or `null` when the server describes no bundle; fetched once. */
export function servedBundleHash(): Promise<string | null> {
  served ??= fetch('/api/web-bundle', { cache: 'no-cache' })
    .then(async (response) => (response.ok ? toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', await response.arrayBuffer()))) : null))
    .catch(() => null);
  return served;
}
