// Recording in the browser, end-to-end encrypted. The recorder: the meeting as this page
// receives it (decrypted, composed into one layout) goes through MediaRecorder as WebM, is
// encrypted as it comes by the core's RecordingEncryptor to this browser's recording owner key,
// and only ciphertext is uploaded to the server's recording store, a part at a time. The group
// is told (a recording notice in MLS) so that every participant sees it is recorded. The
// library: the owner proves it holds its key, lists its recordings, and downloads and decrypts
// one into the origin private file system to play or save.

import { RecordingDecryptor, RecordingEncryptor, type RecordingOwnerKey } from 'sealroom-wasm';
import { Compositor, type RecordedSource } from './compositor';
import { recordingOwnerKey } from './device-key';
import { OpfsFile } from './opfs';
import { fromBase64Url, toBase64Url } from './protocol';
import { PartUpload, TransferError, refusal } from './upload';

/** Parts go up at least this often in bytes, so a recorder that dies loses little. */
const PART_BYTES = 1024 * 1024;
/** MediaRecorder hands over what it encoded every second. */
const TIMESLICE_MS = 1000;
const MIME = 'video/webm;codecs=vp8,opus';

export type RecorderState = 'idle' | 'starting' | 'recording' | 'stopping';

/** What the recorder needs from the meeting. */
export interface RecorderHost {
  blobToken(): string | null;
  sources(): RecordedSource[];
  /** Tells the group we record `id` for the keys `owners` (fingerprints), or stopped. */
  announce(id: string | null, owners: string[]): void;
  changed(): void;
}

export class MeetingRecorder {
  state: RecorderState = 'idle';
  /** Why the last recording failed, to show as it is. */
  error: string | null = null;
  /** Ciphertext bytes the server has taken. */
  uploaded = 0;
  private session: RecordingSession | null = null;
  private stopping: Promise<void> | null = null;

  constructor(private readonly host: RecorderHost) {}

  async start(): Promise<void> {
    if (this.state !== 'idle') return;
    this.set('starting', null);
    try {
      this.session = await RecordingSession.open(this.host, () => this.progress());
      this.set('recording', null);
    } catch (e) {
      this.session = null;
      this.set('idle', errorText(e));
    }
  }

  /** Ends the recording: resolves once all of it is uploaded (or failed). */
  stop(): Promise<void> {
    const session = this.session;
    if (this.state === 'stopping' && this.stopping) return this.stopping;
    if (this.state !== 'recording' || !session) return Promise.resolve();
    this.set('stopping', null);
    this.stopping = session.close().then(
      () => this.set('idle', null),
      (e: unknown) => this.set('idle', errorText(e)),
    ).finally(() => {
      this.session = null;
      this.stopping = null;
    });
    return this.stopping;
  }

  private progress(): void {
    this.uploaded = this.session?.uploaded ?? this.uploaded;
    this.host.changed();
  }

  private set(state: RecorderState, error: string | null): void {
    Object.assign(this, { state, error });
    this.host.changed();
  }
}

/** One recording on its way: compositor, MediaRecorder, encryptor and upload. */
class RecordingSession {
  private queue: Promise<void> = Promise.resolve();
  private failure: unknown = null;

  private constructor(
    private readonly host: RecorderHost,
    private readonly compositor: Compositor,
    private readonly recorder: MediaRecorder,
    private readonly encryptor: RecordingEncryptor,
    private readonly upload: PartUpload,
    private readonly headers: Record<string, string>,
    private readonly changed: () => void,
  ) {}

  get uploaded(): number {
    return this.upload.sent;
  }

  static async open(host: RecorderHost, changed: () => void): Promise<RecordingSession> {
    if (!MediaRecorder.isTypeSupported(MIME)) throw new TransferError('This browser cannot record WebM (VP8 and Opus).');
    const owner = await recordingOwnerKey();
    if (!owner) throw new TransferError('This browser cannot keep a recording key (a private window?): nobody could open the recording.');
    const encryptor = new RecordingEncryptor([owner.publicKey()]);
    const id = encryptor.id();
    // This session's token, kept: a recording stopped as we leave still completes.
    const headers = bearer(host);
    const upload = new PartUpload(recordingTarget(headers));
    await upload.push(encryptor.header());
    await upload.flush();
    const compositor = new Compositor(() => host.sources());
    const recorder = new MediaRecorder(compositor.stream, { mimeType: MIME });
    const session = new RecordingSession(host, compositor, recorder, encryptor, upload, headers, changed);
    recorder.ondataavailable = (event) => session.take(event.data);
    recorder.start(TIMESLICE_MS);
    host.announce(id, [owner.fingerprint()]);
    owner.free();
    return session;
  }

  /** Stops recording, sends the rest and marks the recording complete. */
  async close(): Promise<void> {
    const stopped = new Promise((resolve) => this.recorder.addEventListener('stop', resolve, { once: true }));
    this.recorder.stop();
    await stopped;
    this.compositor.stop();
    this.host.announce(null, []);
    await this.queue;
    if (this.failure) throw this.failure;
    await this.upload.push(this.encryptor.finish());
    const id = await this.upload.finish();
    const response = await fetch(`/api/recordings/${encodeURIComponent(id)}/complete`, { method: 'POST', headers: this.headers });
    if (!response.ok) throw await refusal(response);
  }

  /** Encrypts and uploads what MediaRecorder encoded, in order. */
  private take(data: Blob): void {
    this.queue = this.queue.then(async () => {
      if (this.failure) return;
      try {
        await this.upload.push(this.encryptor.update(new Uint8Array(await data.arrayBuffer())));
        this.changed();
      } catch (e) {
        this.failure = e;
      }
    });
  }
}

function recordingTarget(headers: Record<string, string>) {
  return {
    create: '/api/recordings',
    append: (id: string, offset: number) => `/api/recordings/${encodeURIComponent(id)}?offset=${offset}`,
    headers,
    partBytes: PART_BYTES,
  };
}

function bearer(host: RecorderHost): Record<string, string> {
  const token = host.blobToken();
  if (!token) throw new TransferError('Not in the meeting yet: the server has not given this page its upload token.');
  return { Authorization: `Bearer ${token}` };
}

/** A recording the store keeps for one of our keys. */
export interface StoredRecording { id: string; room: string; /** Unix ms. */ created_at: number; completed: boolean; size: number }

/** The recordings sealed to this browser's owner key: listed, downloaded and decrypted. */
export class RecordingLibrary {
  recordings: StoredRecording[] = [];
  /** A decrypted recording ready to play or save, by id. */
  readonly opened = new Map<string, { url: string; name: string }>();
  error: string | null = null;
  busy: string | null = null;
  /** Our decrypted recordings in the private file system, deleted when we leave. */
  private readonly stored = new Set<string>();

  constructor(private readonly changed: () => void) {}

  /** We left: every decrypted recording is deleted and its URL revoked. */
  clear(): void {
    for (const { url } of this.opened.values()) URL.revokeObjectURL(url);
    this.opened.clear();
    void OpfsFile.deleteAll(this.stored);
  }

  /** Asks the store which recordings are sealed to our key. */
  async refresh(): Promise<void> {
    await this.run('list', async (owner) => {
      const response = await fetch('/api/recordings', { headers: await ownerProof(owner) });
      if (!response.ok) throw await refusal(response);
      this.recordings = (await response.json()) as StoredRecording[];
    });
  }

  /** Downloads one recording and decrypts it with our key into the private file system. */
  async open(id: string): Promise<void> {
    await this.run(id, async (owner) => {
      const response = await fetch(`/api/recordings/${encodeURIComponent(id)}`, { headers: await ownerProof(owner) });
      if (!response.ok || !response.body) throw await refusal(response);
      const sink = await OpfsFile.create(this.stored);
      try {
        const decryptor = new RecordingDecryptor(owner);
        const reader = response.body.getReader();
        for (let read = await reader.read(); !read.done; read = await reader.read()) await sink.write(decryptor.update(read.value));
        await sink.write(decryptor.finish());
        const name = `recording-${id.slice(0, 8)}.webm`;
        this.opened.set(id, { url: URL.createObjectURL(await sink.close(name, 'video/webm')), name });
      } catch (e) {
        await sink.discard();
        throw e;
      }
    });
  }

  private async run(what: string, act: (owner: RecordingOwnerKey) => Promise<void>): Promise<void> {
    const owner = await recordingOwnerKey();
    if (!owner) {
      this.error = 'This browser keeps no recording key.';
      this.changed();
      return;
    }
    Object.assign(this, { busy: what, error: null });
    this.changed();
    try {
      await act(owner);
    } catch (e) {
      this.error = errorText(e);
    } finally {
      owner.free();
      this.busy = null;
      this.changed();
    }
  }
}

/** Proves to the store that we hold `owner`: it seals a nonce to the key, and only we open it. */
async function ownerProof(owner: RecordingOwnerKey): Promise<Record<string, string>> {
  const publicKey = owner.publicKey();
  const response = await fetch('/api/recordings/challenge', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ owner: publicKey }),
  });
  if (!response.ok) throw await refusal(response);
  const { challenge } = (await response.json()) as { challenge: string };
  const nonce = owner.openOwnerChallenge(fromBase64Url(challenge));
  return { Authorization: `SealroomOwner ${publicKey}.${toBase64Url(nonce)}` };
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
