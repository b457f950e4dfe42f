// Uploading ciphertext to the server in parts: browsers cannot stream a request body over
// HTTP/1.1, so the first part creates the object and each next one is appended at its offset,
// one at a time, in order. Shared by encrypted files (/api/blobs) and recordings
// (/api/recordings); neither ever holds more than one part in memory.

/** A refusal of the server, or a broken transfer, with a message for people. */
export class TransferError extends Error {}

/** Where an upload goes: `create` answers `{id}` to the first part; `append(id, offset)` takes
 *  the next ones. `createHeaders` go with the first part only. */
export interface UploadTarget {
  create: string;
  append(id: string, offset: number): string;
  headers: Record<string, string>;
  createHeaders?: Record<string, string>;
  /** Largest part the server takes. */
  partBytes: number;
}

export class PartUpload {
  id: string | null = null;
  /** Bytes the server has taken. */
  sent = 0;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;

  constructor(private readonly target: UploadTarget, private readonly signal?: AbortSignal) {}

  /** Queues `bytes`, sending each part as soon as it is full (never more than a part). */
  async push(bytes: Uint8Array): Promise<void> {
    let rest = bytes;
    while (this.pendingBytes + rest.length >= this.target.partBytes) {
      const room = this.target.partBytes - this.pendingBytes;
      this.queue(rest.subarray(0, room));
      rest = rest.subarray(room);
      await this.flush();
    }
    if (rest.length > 0) this.queue(rest);
  }

  /** Sends what is queued, even less than a part (a recording that must not lose it). */
  async flush(): Promise<void> {
    const part = new Blob(this.pending as BlobPart[]);
    this.pending = [];
    this.pendingBytes = 0;
    const first = this.id === null;
    const url = first ? this.target.create : this.target.append(this.id ?? '', this.sent);
    const headers = first ? { ...this.target.headers, ...this.target.createHeaders } : this.target.headers;
    const response = await fetch(url, { method: first ? 'POST' : 'PUT', headers, body: part, signal: this.signal });
    if (!response.ok) throw await refusal(response);
    if (first) this.id = await createdId(response);
    this.sent += part.size;
  }

  /** Sends what is left; the object's id. */
  async finish(): Promise<string> {
    if (this.pendingBytes > 0 || this.id === null) await this.flush();
    if (this.id === null) throw new TransferError('The server gave no id.');
    return this.id;
  }

  private queue(bytes: Uint8Array): void {
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
  }
}

async function createdId(response: Response): Promise<string> {
  const answer = (await response.json()) as { id?: unknown };
  if (typeof answer.id !== 'string') throw new TransferError('The server gave no id.');
  return answer.id;
}

/** The server's `{error, message}` as an error for people. */
export async function refusal(response: Response): Promise<TransferError> {
  let message = `the server answered ${response.status}`;
  try {
    const body = (await response.json()) as { message?: unknown };
    if (typeof body.message === 'string') message = body.message;
  } catch {
    // Not the server's JSON: the status says enough.
  }
  return new TransferError(`The server refused: ${message}`);
}
