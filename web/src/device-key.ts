// Keys this browser keeps across meetings in its IndexedDB: the device's MLS signature key, so
// that its fingerprint — what people verify — stays the same (a "verified" mark lasts, and "key
// changed" means it changed), and the recording owner key that this browser's recordings are
// sealed to. Each is stored sealed (AES-GCM) under a WebCrypto key made non-extractable, kept
// beside it: the database holds no key bytes in the clear, and the sealing key itself can never
// be read out, only used by this origin's scripts. Without IndexedDB (a private window that
// refuses it), every join gets a new device key, and recording is not offered.

import { Participant, RecordingOwnerKey } from 'sealroom-wasm';

const DATABASE = 'sealroom';
const STORE = 'device';
const DEVICE_RECORD = 'signature-key';
const RECORDING_OWNER_RECORD = 'recording-owner-key';

interface Sealed {
  sealingKey: CryptoKey;
  iv: Uint8Array<ArrayBuffer>;
  sealed: ArrayBuffer;
}

/** This browser's device key, made and sealed away on first use; null if it cannot be kept.
 *  The caller hands it to the MLS core and then zeroes it. */
export function deviceSecret(): Promise<Uint8Array | null> {
  // wasm-bindgen's arrays are over an ArrayBuffer of their own, never a shared one.
  return keptSecret(DEVICE_RECORD, () => Participant.newDeviceSecret() as Uint8Array<ArrayBuffer>);
}

/** This browser's recording owner key, made and sealed away on first use; null if it cannot
 *  be kept (a recording sealed to a key that is then lost could never be opened). */
export async function recordingOwnerKey(): Promise<RecordingOwnerKey | null> {
  const secret = await keptSecret(RECORDING_OWNER_RECORD, () => {
    const made = RecordingOwnerKey.generate();
    try {
      return made.toBytes() as Uint8Array<ArrayBuffer>;
    } finally {
      made.free();
    }
  });
  if (!secret) return null;
  try {
    return RecordingOwnerKey.fromBytes(secret);
  } finally {
    secret.fill(0);
  }
}

/** The secret kept as `record`, made with `make` and sealed away on first use. */
async function keptSecret(record: string, make: () => Uint8Array<ArrayBuffer>): Promise<Uint8Array | null> {
  let db: IDBDatabase;
  try {
    db = await open();
  } catch {
    return null;
  }
  try {
    const kept = await read(db, record);
    if (kept) return await unseal(kept);
    const secret = make();
    // Two tabs may make one at once: the first kept wins, and both use that one.
    if (await add(db, record, await seal(secret))) return secret;
    secret.fill(0);
    const winner = await read(db, record);
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

function read(db: IDBDatabase, record: string): Promise<Sealed | undefined> {
  return new Promise((resolve, reject) => {
    const request = db.transaction(STORE, 'readonly').objectStore(STORE).get(record);
    request.onsuccess = () => resolve(request.result as Sealed | undefined);
    request.onerror = () => reject(request.error ?? new Error('IndexedDB read failed'));
  });
}

/** Keeps `sealed` unless a record is already there; whether it was kept. */
function add(db: IDBDatabase, record: string, sealed: Sealed): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const request = db.transaction(STORE, 'readwrite').objectStore(STORE).add(sealed, record);
    request.onsuccess = () => resolve(true);
    request.onerror = (event) => {
      if (request.error?.name !== 'ConstraintError') return reject(request.error ?? new Error('IndexedDB write failed'));
      event.preventDefault();
      resolve(false);
    };
  });
}
