// The device's MLS signature key, kept across meetings in this browser's IndexedDB so that its
// fingerprint — what people verify — stays the same: a "verified" mark lasts, and "key changed"
// means it changed. The key is stored sealed (AES-GCM) under a WebCrypto key made
// non-extractable, kept beside it: the database holds no key bytes in the clear, and the
// sealing key itself can never be read out, only used by this origin's scripts. Without
// IndexedDB (a private window that refuses it), every join gets a new key, as before.

import { Participant } from 'sealroom-wasm';

const DATABASE = 'sealroom';
const STORE = 'device';
const RECORD = 'signature-key';

interface Sealed {
  sealingKey: CryptoKey;
  iv: Uint8Array<ArrayBuffer>;
  sealed: ArrayBuffer;
}

/** This browser's device key, made and sealed away on first use; null if it cannot be kept.
 *  The caller hands it to the MLS core and then zeroes it. */
export async function deviceSecret(): Promise<Uint8Array | null> {
  let db: IDBDatabase;
  try {
    db = await open();
  } catch {
    return null;
  }
  try {
    const kept = await read(db);
    if (kept) return await unseal(kept);
    // wasm-bindgen's arrays are over an ArrayBuffer of their own, never a shared one.
    const secret = Participant.newDeviceSecret() as Uint8Array<ArrayBuffer>;
    // Two tabs may make one at once: the first kept wins, and both use that one.
    if (await add(db, await seal(secret))) return secret;
    secret.fill(0);
    const winner = await read(db);
    return winner ? await unseal(winner) : null;
  } finally {
    db.close();
  }
}

async function seal(secret: Uint8Array<ArrayBuffer>): Promise<Sealed> {
  const sealingKey = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, sealingKey, secret);
  return { sealingKey, iv, sealed };
}

async function unseal(kept: Sealed): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: kept.iv }, kept.sealingKey, kept.sealed));
}

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DATABASE, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('IndexedDB refused'));
  });
}

function read(db: IDBDatabase): Promise<Sealed | undefined> {
  return new Promise((resolve, reject) => {
    const request = db.transaction(STORE, 'readonly').objectStore(STORE).get(RECORD);
    request.onsuccess = () => resolve(request.result as Sealed | undefined);
    request.onerror = () => reject(request.error ?? new Error('IndexedDB read failed'));
  });
}

/** Keeps `sealed` unless a record is already there; whether it was kept. */
function add(db: IDBDatabase, sealed: Sealed): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const request = db.transaction(STORE, 'readwrite').objectStore(STORE).add(sealed, RECORD);
    request.onsuccess = () => resolve(true);
    request.onerror = (event) => {
      if (request.error?.name !== 'ConstraintError') return reject(request.error ?? new Error('IndexedDB write failed'));
      event.preventDefault();
      resolve(false);
    };
  });
}
