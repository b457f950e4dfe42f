// End-to-end encrypted files in the page. Sending: the file is read a megabyte at a time,
// encrypted by the core's FileEncryptor (chunked AES-256-GCM under a fresh key) and uploaded
// as ciphertext in parts of at most 8 MiB, then offered to the group inside MLS. Receiving:
// the blob streams from the server through the FileDecryptor into a file in the origin's
// private file system (OPFS), which becomes a saveable file only once the whole download
// checks out; on any failure it is deleted. Neither side holds more than a part in memory.

import { FileDecryptor, FileEncryptor, type FileEntry } from 'sealroom-wasm';
import { OpfsFile } from './opfs';
import { PartUpload, TransferError, refusal } from './upload';

/** Largest upload part: the server's default `files.max_part_bytes`. */
const PART_BYTES = 8 * 1024 * 1024;
/** Plaintext read from the file at a time. */
const READ_BYTES = 1024 * 1024;
/** The header declaring a blob's size when parts follow its first. */
const BLOB_SIZE = 'Sealroom-Blob-Size';

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
      const upload = new PartUpload({
        create: '/api/blobs',
        append: (id, offset) => `/api/blobs/${encodeURIComponent(id)}?offset=${offset}`,
        headers: this.bearer(),
        createHeaders: { [BLOB_SIZE]: String(FileEncryptor.ciphertextLength(file.size)) },
        partBytes: PART_BYTES,
      }, abort.signal);
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
    const sink = await OpfsFile.create(this.stored);
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
    void OpfsFile.deleteAll(this.stored);
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

/** The decryptor's errors carry a `code` and a message to show as it is. */
function failureText(error: unknown): string {
  if (error instanceof TransferError) return error.message;
  const coded = error as { code?: unknown; message?: unknown };
  if (typeof coded.code === 'string' && typeof coded.message === 'string') return `Could not receive the file: ${coded.message} (${coded.code}). No file was kept.`;
  if (error instanceof TypeError) return `The transfer broke off: ${error.message}.`;
  return error instanceof Error ? error.message : String(error);
}
