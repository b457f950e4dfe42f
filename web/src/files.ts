// End-to-end encrypted files in the page. Sending: the file is read a megabyte at a time,
// encrypted by the core's FileEncryptor (chunked AES-256-GCM under a fresh key) and uploaded
// as ciphertext in parts of at most 8 MiB, then offered to the group inside MLS. Receiving:
// the blob streams from the server through the FileDecryptor into a file in the origin's
// private file system (OPFS), which becomes a saveable file only once the whole download
// checks out; on any failure it is deleted. Neither side holds more than a part in memory.

import { FileDecryptor, FileEncryptor, type FileEntry } from 'sealroom-wasm';

/** Largest upload part: the server's default `files.max_part_bytes`. */
const PART_BYTES = 8 * 1024 * 1024;
/** Plaintext read from the file at a time. */
const READ_BYTES = 1024 * 1024;
/** The header declaring a blob's size when parts follow its first. */
const BLOB_SIZE = 'Sealroom-Blob-Size';
/** Names of the received files this tab keeps in the origin private file system. */
const OPFS_PREFIX = 'sealroom-file-';

export type TransferState = 'sending' | 'sent' | 'offered' | 'receiving' | 'received' | 'failed' | 'cancelled';

/** One file on its way out or in, as the chat panel shows it. */
export interface Transfer {
  /** The page's own number for it. */
  id: number;
  incoming: boolean;
  /** The sender's name from its MLS credential; ours for what we send. */
  from: string;
  name: string;
  size: number;
  /** Bytes of the file encrypted and uploaded, or downloaded and decrypted, so far. */
  done: number;
  state: TransferState;
  /** Why it failed, to show as it is. */
  error: string | null;
  /** A received file, checked: an object URL to save it from. */
  url: string | null;
  /** What the sender offered (incoming only). */
  offer: FileEntry | null;
}

/** What the sender hands the core to offer once its ciphertext is uploaded. */
export interface UploadedFile { blob: string; name: string; size: number; mime: string; key: Uint8Array; sha256: Uint8Array }

/** A refusal of the blob store, or a broken transfer, with a message for people. */
class TransferError extends Error {}

export class FileTransfers {
  list: Transfer[] = [];
  private nextId = 1;
  private readonly aborts = new Map<number, AbortController>();
  /** Our received files in the private file system, deleted when we leave. */
  private readonly stored = new Set<string>();

  /** `token` gives this session's blob token (null before the server sent it); `changed` is
   *  called on every step worth showing. */
  constructor(private readonly token: () => string | null, private readonly changed: () => void) {}

  /** Encrypts and uploads `file`, then hands it to `offer`; the transfer ends `sent`, or
   *  `failed` with the reason. */
  async send(file: File, from: string, offer: (uploaded: UploadedFile) => void): Promise<void> {
    const transfer = this.add({ incoming: false, from, name: file.name, size: file.size, state: 'sending', offer: null });
    const abort = this.abortFor(transfer);
    let blob: string | null = null;
    try {
      const encryptor = new FileEncryptor();
      const upload = new Upload(this.bearer(), FileEncryptor.ciphertextLength(file.size), abort.signal);
      for (let at = 0; at < file.size; at += READ_BYTES) {
        const plaintext = new Uint8Array(await file.slice(at, at + READ_BYTES).arrayBuffer());
        await upload.push(encryptor.update(plaintext));
        blob = upload.id;
        this.progress(transfer, Math.min(file.size, at + READ_BYTES));
      }
      await upload.push(encryptor.finish());
      blob = await upload.finish();
      offer({ blob, name: file.name, size: file.size, mime: file.type, key: encryptor.key(), sha256: encryptor.sha256() });
      this.settle(transfer, 'sent');
    } catch (e) {
      if (blob !== null) void this.deleteBlob(blob);
      this.fail(transfer, e, abort);
    }
  }

  /** A member offered a file: shown, downloaded only when our user asks. */
  offered(entry: FileEntry): void {
    this.add({ incoming: true, from: entry.senderName, name: entry.name, size: entry.size, state: 'offered', offer: entry });
  }

  /** Downloads, decrypts and checks an offered file; it ends `received` with a URL to save it
   *  from, or `failed` with the reason and no file. */
  async receive(id: number): Promise<void> {
    const transfer = this.list.find((t) => t.id === id);
    const offer = transfer?.offer;
    if (!transfer || !offer || (transfer.state !== 'offered' && transfer.state !== 'failed' && transfer.state !== 'cancelled')) return;
    Object.assign(transfer, { state: 'receiving', done: 0, error: null });
    this.changed();
    const abort = this.abortFor(transfer);
    const sink = await FileSink.open(this.stored);
    try {
      const response = await fetch(`/api/blobs/${encodeURIComponent(offer.blob)}`, { headers: this.bearer(), signal: abort.signal });
      if (!response.ok || !response.body) throw await refusal(response);
      const decryptor = new FileDecryptor(offer.key, offer.size);
      const reader = response.body.getReader();
      for (let read = await reader.read(); !read.done; read = await reader.read()) {
        const plaintext = decryptor.update(read.value);
        await sink.write(plaintext);
        this.progress(transfer, transfer.done + plaintext.length);
      }
      await sink.write(decryptor.finish(offer.sha256));
      transfer.url = URL.createObjectURL(await sink.close(offer.name, offer.mime));
      this.settle(transfer, 'received');
    } catch (e) {
      await sink.discard();
      this.fail(transfer, e, abort);
    }
  }

  /** Stops a transfer on its way: an upload's blob is deleted, a download's file too. */
  cancel(id: number): void {
    this.aborts.get(id)?.abort();
  }

  /** We left: every received file is deleted and its URL revoked. */
  clear(): void {
    for (const abort of this.aborts.values()) abort.abort();
    for (const transfer of this.list) if (transfer.url) URL.revokeObjectURL(transfer.url);
    this.list = [];
    void FileSink.deleteAll(this.stored);
  }

  private add(fields: Pick<Transfer, 'incoming' | 'from' | 'name' | 'size' | 'state' | 'offer'>): Transfer {
    const transfer: Transfer = { id: this.nextId++, done: 0, error: null, url: null, ...fields };
    this.list.push(transfer);
    this.changed();
    return transfer;
  }

  private abortFor(transfer: Transfer): AbortController {
    const abort = new AbortController();
    this.aborts.set(transfer.id, abort);
    return abort;
  }

  private progress(transfer: Transfer, done: number): void {
    transfer.done = done;
    this.changed();
  }

  private settle(transfer: Transfer, state: TransferState): void {
    this.aborts.delete(transfer.id);
    transfer.state = state;
    this.changed();
  }

  private fail(transfer: Transfer, error: unknown, abort: AbortController): void {
    this.aborts.delete(transfer.id);
    if (abort.signal.aborted) {
      transfer.state = 'cancelled';
    } else {
      transfer.state = 'failed';
      transfer.error = failureText(error);
    }
    this.changed();
  }

  private bearer(): Record<string, string> {
    const token = this.token();
    if (!token) throw new TransferError('Not in the meeting yet: the server has not given this page its file token.');
    return { Authorization: `Bearer ${token}` };
  }

  private async deleteBlob(blob: string): Promise<void> {
    try {
      await fetch(`/api/blobs/${encodeURIComponent(blob)}`, { method: 'DELETE', headers: this.bearer() });
    } catch {
      // The server deletes a broken-off upload itself, and every blob when the room ends.
    }
  }
}

/** One blob's upload: the first part creates it (declaring its whole size), the rest are
 *  appended in order at their offsets. */
class Upload {
  id: string | null = null;
  private sent = 0;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;

  constructor(private readonly headers: Record<string, string>, private readonly size: number, private readonly signal: AbortSignal) {}

  /** Queues `ciphertext`, sending each part as soon as it is full (never more than a part). */
  async push(ciphertext: Uint8Array): Promise<void> {
    let rest = ciphertext;
    while (this.pendingBytes + rest.length >= PART_BYTES) {
      const room = PART_BYTES - this.pendingBytes;
      this.pending.push(rest.subarray(0, room));
      this.pendingBytes += room;
      rest = rest.subarray(room);
      await this.flush();
    }
    if (rest.length > 0) {
      this.pending.push(rest);
      this.pendingBytes += rest.length;
    }
  }

  async finish(): Promise<string> {
    if (this.pendingBytes > 0 || this.id === null) await this.flush();
    if (this.id === null) throw new TransferError('The server gave no blob id.');
    return this.id;
  }

  private async flush(): Promise<void> {
    const part = new Blob(this.pending as BlobPart[]);
    this.pending = [];
    this.pendingBytes = 0;
    const first = this.id === null;
    const url = first ? '/api/blobs' : `/api/blobs/${encodeURIComponent(this.id ?? '')}?offset=${this.sent}`;
    const headers = first ? { ...this.headers, [BLOB_SIZE]: String(this.size) } : this.headers;
    const response = await fetch(url, { method: first ? 'POST' : 'PUT', headers, body: part, signal: this.signal });
    if (!response.ok) throw await refusal(response);
    if (first) this.id = await createdId(response);
    this.sent += part.size;
  }
}

async function createdId(response: Response): Promise<string> {
  const answer = (await response.json()) as { id?: unknown };
  if (typeof answer.id !== 'string') throw new TransferError('The server gave no blob id.');
  return answer.id;
}

/** The blob store's `{error, message}` as an error for people. */
async function refusal(response: Response): Promise<TransferError> {
  let message = `the server answered ${response.status}`;
  try {
    const body = (await response.json()) as { message?: unknown };
    if (typeof body.message === 'string') message = body.message;
  } catch {
    // Not the store's JSON: the status says enough.
  }
  return new TransferError(`The server refused: ${message}`);
}

/** The decryptor's errors carry a `code` and a message to show as it is. */
function failureText(error: unknown): string {
  if (error instanceof TransferError) return error.message;
  const coded = error as { code?: unknown; message?: unknown };
  if (typeof coded.code === 'string' && typeof coded.message === 'string') return `Could not receive the file: ${coded.message} (${coded.code}). No file was kept.`;
  if (error instanceof TypeError) return `The transfer broke off: ${error.message}.`;
  return error instanceof Error ? error.message : String(error);
}

/** Where a download's plaintext goes: a file in the origin private file system, so a large
 *  file never sits whole in memory; in memory only where the browser offers no such storage. */
class FileSink {
  private readonly memory: Uint8Array[] = [];

  private constructor(
    private readonly stored: Set<string>,
    private readonly file: { name: string; dir: FileSystemDirectoryHandle; handle: FileSystemFileHandle; writable: FileSystemWritableFileStream } | null,
  ) {}

  static async open(stored: Set<string>): Promise<FileSink> {
    try {
      const dir = await navigator.storage.getDirectory();
      const name = `${OPFS_PREFIX}${crypto.randomUUID()}`;
      const handle = await dir.getFileHandle(name, { create: true });
      stored.add(name);
      return new FileSink(stored, { name, dir, handle, writable: await handle.createWritable() });
    } catch {
      return new FileSink(stored, null);
    }
  }

  async write(plaintext: Uint8Array): Promise<void> {
    if (this.file) await this.file.writable.write(plaintext as BufferSource);
    else this.memory.push(plaintext);
  }

  /** The whole file, checked, under its offered name and type. */
  async close(name: string, mime: string): Promise<Blob> {
    if (!this.file) return new File(this.memory as BlobPart[], name, { type: mime });
    await this.file.writable.close();
    return this.file.handle.getFile();
  }

  async discard(): Promise<void> {
    this.memory.length = 0;
    if (!this.file) return;
    await this.file.writable.abort().catch(() => undefined);
    await this.file.dir.removeEntry(this.file.name).catch(() => undefined);
    this.stored.delete(this.file.name);
  }

  static async deleteAll(stored: Set<string>): Promise<void> {
    const dir = await navigator.storage.getDirectory().catch(() => null);
    for (const name of stored) await dir?.removeEntry(name).catch(() => undefined);
    stored.clear();
  }
}
