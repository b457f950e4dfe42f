/**
 * The frame-transform worker: every encoded frame this browser sends is SFrame-protected here
 * before packetisation, and every frame it receives is authenticated and decrypted here before
 * the decoder. A frame that cannot be protected is not sent; a frame that does not decrypt is
 * dropped, never shown. Nothing in this file lets clear media through.
 *
 * One worker serves all of the page's transceivers with a single `Keyring`: audio and video (and
 * every simulcast layer) share one SFrame sending counter, which must never repeat under a key.
 *
 * Page → worker:
 * - `{ type: 'epoch', epoch: bigint, baseKey: Uint8Array, ownLeaf: number, fresh: boolean }`:
 *   installs an epoch's SFrame base key (from the page's MLS core, its buffer transferred); the
 *   previous epoch keeps decrypting for the keyring's grace period. `fresh`: the first epoch of
 *   a new group, installed in a new keyring. An epoch that fails to install empties the keyring:
 *   nothing is sent until a later one installs.
 * - `{ type: 'expect', label: string, leaf: number | null }`: frames of the receive transform
 *   `label` must come from MLS leaf `leaf` (the track's publisher); others, and every frame of a
 *   transform with no expected leaf, are dropped (counted as `unexpected_sender`).
 * - `new RTCRtpScriptTransform(worker, { side, kind, label })` → `rtctransform` event.
 * - Fallback where `RTCRtpScriptTransform` is missing: `{ type: 'streams', side, kind, label,
 *   readable, writable }` with the streams of `createEncodedStreams()` transferred.
 *
 * Worker → page: `{ type: 'ready' }` once wasm is initialised; `{ type: 'stats', … }` every
 * 500 ms (see `Stats`); `{ type: 'error', where, code, message, label? }` when an epoch cannot be
 * installed, a transform is set up wrongly or wasm fails to load.
 */

import init, { Keyring } from '../../pkg/sealroom_wasm.js';
import { wasmModuleRequest } from '../wasm-module';

type Side = 'send' | 'receive';
type MediaKind = 'audio' | 'video';

/** What the page names a transform with (`RTCRtpScriptTransform` options or a `streams` message). */
interface StreamOptions {
  side: Side;
  kind: MediaKind;
  label: string;
}

/** The parts of `RTCEncodedAudioFrame` / `RTCEncodedVideoFrame` used here. */
interface EncodedFrame {
  data: ArrayBuffer;
  /** Video only: `'key'`, `'delta'` or `'empty'`. */
  readonly type?: string;
  getMetadata?(): { mimeType?: string };
}

/** The parts of `RTCRtpScriptTransformer` used here. */
interface ScriptTransformer {
  readonly readable: ReadableStream<EncodedFrame>;
  readonly writable: WritableStream<EncodedFrame>;
  readonly options: unknown;
}

/** The dedicated worker scope, declared here so the file type-checks under any `lib` setting. */
interface WorkerScope {
  readonly location: { readonly href: string };
  postMessage(message: unknown): void;
  onmessage: ((event: MessageEvent<unknown>) => void) | null;
  onrtctransform: ((event: { readonly transformer: ScriptTransformer }) => void) | null;
}

type PerKind = { audio: number; video: number };

/** Posted to the page every `STATS_INTERVAL_MS`. Counters are totals since the worker started. */
interface Stats {
  type: 'stats';
  /** Frames protected and handed to the packetiser. */
  sent: PerKind;
  /** Outgoing frames dropped because no epoch was installed yet (never sent in the clear). */
  droppedNoKey: number;
  /** Incoming frames decrypted, by sender leaf index. */
  decrypted: Record<number, PerKind>;
  /** Incoming frames dropped, by error code (`authentication_failed`, `unknown_kid`, `no_epoch`, …). */
  failures: Record<string, number>;
  /** Outgoing frames dropped for another reason than a missing epoch, by error code. */
  sendFailures: Record<string, number>;
  /** When the first frame was decrypted, in Unix-epoch milliseconds (comparable with `Date.now()`). */
  firstDecryptedAtMs?: number;
  /** The epoch frames are sent under; absent while none is installed (nothing is sent). */
  epoch?: number;
}

const STATS_INTERVAL_MS = 500;

/**
 * Bytes of a VP8 frame left clear (authenticated) so the packetiser and the SFU can read them:
 * the 10-byte key frame header (frame tag, start code, dimensions) and the 3-byte frame tag of a
 * delta frame (the packetiser needs the frame tag; the key frame's size is stated anyway).
 */
const VP8_KEY_FRAME_CLEAR_BYTES = 10;
const VP8_DELTA_FRAME_CLEAR_BYTES = 3;

const scope = globalThis as unknown as WorkerScope;

let keyring: Keyring | undefined;
let epochInstalled = false;

/** Drops every key: nothing is sent or received until an epoch installs. */
function replaceKeyring(): void {
  keyring?.free();
  keyring = new Keyring();
  epochInstalled = false;
}
/** Receive transform label → the MLS leaf of the track's publisher, as the page matched the
 *  SFU's label to the roster by key fingerprint. A track with no entry shows nothing. */
const expectedSenders = new Map<string, number>();
/** Epochs the page sent before wasm was ready, installed in order once it is. */
const pendingEpochs: EpochMessage[] = [];

const stats: Stats = {
  type: 'stats',
  sent: { audio: 0, video: 0 },
  droppedNoKey: 0,
  decrypted: {},
  failures: {},
  sendFailures: {},
};

interface EpochMessage {
  epoch: bigint;
  baseKey: Uint8Array;
  ownLeaf: number;
  /** The first epoch of a group we just created or joined. */
  fresh: boolean;
}

function count(counters: Record<string, number>, code: string): void {
  counters[code] = (counters[code] ?? 0) + 1;
}

/** The stable code of an error thrown by the wasm API (`code` property, or `code:` prefix). */
function errorCode(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as Error & { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const prefix = /^([a-z_]+):/.exec(error.message);
    if (prefix?.[1] !== undefined) return prefix[1];
  }
  return 'internal';
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function reportError(where: string, error: unknown, label?: string): void {
  scope.postMessage({
    type: 'error',
    where,
    code: errorCode(error),
    message: errorMessage(error),
    ...(label === undefined ? {} : { label }),
  });
}

/** The bytes as an `ArrayBuffer` of exactly their length, for `frame.data`. */
function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  const { buffer } = bytes;
  if (
    buffer instanceof ArrayBuffer &&
    bytes.byteOffset === 0 &&
    bytes.byteLength === buffer.byteLength
  ) {
    return buffer;
  }
  return bytes.slice().buffer as ArrayBuffer;
}

// ---- Epochs -----------------------------------------------------------------------------------

function parseEpoch(message: Record<string, unknown>): EpochMessage | undefined {
  const { epoch, baseKey, ownLeaf } = message;
  const fresh = message.fresh === true;
  if (!(baseKey instanceof Uint8Array)) return undefined;
  if (typeof ownLeaf !== 'number' || !Number.isInteger(ownLeaf) || ownLeaf < 0) return undefined;
  if (typeof epoch === 'bigint' && epoch >= 0n) return { epoch, baseKey, ownLeaf, fresh };
  if (typeof epoch === 'number' && Number.isSafeInteger(epoch) && epoch >= 0) {
    return { epoch: BigInt(epoch), baseKey, ownLeaf, fresh };
  }
  return undefined;
}

/** Installs an epoch. A new group (`fresh`) gets a new keyring: its epochs count from zero
 *  again. An epoch that cannot be installed empties the keyring, so that nothing goes out under
 *  an older key until a later epoch installs. */
function installEpoch(message: EpochMessage): void {
  try {
    if (message.fresh) replaceKeyring();
    keyring?.installEpoch(performance.now(), message.epoch, message.baseKey, message.ownLeaf);
    epochInstalled = true;
  } catch (error) {
    replaceKeyring();
    reportError('epoch', error);
  } finally {
    // The page hands the key over; this copy is not needed once the keyring holds it.
    message.baseKey.fill(0);
  }
}

// ---- Frames -----------------------------------------------------------------------------------

/** How many leading bytes of an outgoing frame stay clear: Opus and unknown codecs none. */
function clearPrefixLength(frame: EncodedFrame, kind: MediaKind, length: number): number {
  if (kind === 'audio') return 0;
  if (videoCodec(frame) !== 'vp8') return 0;
  const clear = frame.type === 'key' ? VP8_KEY_FRAME_CLEAR_BYTES : VP8_DELTA_FRAME_CLEAR_BYTES;
  return Math.min(clear, length);
}

/** The video codec from the frame's metadata, lowercase without `video/`. */
function videoCodec(frame: EncodedFrame): string {
  const mimeType = frame.getMetadata?.().mimeType;
  // Browsers that do not report the codec: the SFU negotiates only VP8 for video today.
  if (mimeType === undefined || mimeType === '') return 'vp8';
  return mimeType.toLowerCase().replace(/^video\//, '');
}

function protectFrame(
  frame: EncodedFrame,
  kind: MediaKind,
  _label: string,
  controller: TransformStreamDefaultController<EncodedFrame>,
): void {
  if (keyring === undefined || !epochInstalled) {
    stats.droppedNoKey += 1;
    return;
  }
  try {
    const data = new Uint8Array(frame.data);
    const wire = keyring.protect(clearPrefixLength(frame, kind, data.length), data);
    frame.data = toArrayBuffer(wire);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'no_epoch') stats.droppedNoKey += 1;
    else count(stats.sendFailures, code);
    return;
  }
  stats.sent[kind] += 1;
  controller.enqueue(frame);
}

function unprotectFrame(
  frame: EncodedFrame,
  kind: MediaKind,
  label: string,
  controller: TransformStreamDefaultController<EncodedFrame>,
): void {
  if (keyring === undefined || !epochInstalled) {
    count(stats.failures, 'no_epoch');
    return;
  }
  let sender: number;
  try {
    const opened = keyring.unprotect(performance.now(), new Uint8Array(frame.data));
    frame.data = toArrayBuffer(opened.payload);
    sender = opened.senderIndex;
  } catch (error) {
    count(stats.failures, errorCode(error));
    return;
  }
  // The SFU says whose track this is; the authenticated KID says who sent the frame. A frame
  // from anyone but the track's publisher (a relabelled track) is never shown.
  if (expectedSenders.get(label) !== sender) {
    count(stats.failures, 'unexpected_sender');
    return;
  }
  const perSender = (stats.decrypted[sender] ??= { audio: 0, video: 0 });
  perSender[kind] += 1;
  stats.firstDecryptedAtMs ??= performance.timeOrigin + performance.now();
  controller.enqueue(frame);
}

function parseStreamOptions(value: unknown): StreamOptions | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { side, kind, label } = value as Record<string, unknown>;
  if (side !== 'send' && side !== 'receive') return undefined;
  if (kind !== 'audio' && kind !== 'video') return undefined;
  return { side, kind, label: typeof label === 'string' ? label : '' };
}

/**
 * Pipes one stream of encoded frames through protection (send) or unprotection (receive). With
 * options that name no valid side and kind nothing is piped at all: no frame flows, clear or not.
 */
function attach(
  options: unknown,
  readable: ReadableStream<EncodedFrame>,
  writable: WritableStream<EncodedFrame>,
): void {
  const parsed = parseStreamOptions(options);
  if (parsed === undefined) {
    reportError('transform', new Error('invalid_options: side must be send|receive, kind audio|video'));
    return;
  }
  const { side, kind, label } = parsed;
  const transform = side === 'send' ? protectFrame : unprotectFrame;
  readable
    .pipeThrough(
      new TransformStream<EncodedFrame, EncodedFrame>({
        transform: (frame, controller) => transform(frame, kind, label, controller),
      }),
    )
    .pipeTo(writable)
    .catch((error: unknown) => reportError('pipe', error, label));
}

// ---- Wiring -----------------------------------------------------------------------------------

scope.onrtctransform = (event) => {
  const { transformer } = event;
  attach(transformer.options, transformer.readable, transformer.writable);
};

scope.onmessage = (event) => {
  const message = event.data;
  if (typeof message !== 'object' || message === null) return;
  const fields = message as Record<string, unknown>;
  switch (fields.type) {
    case 'epoch': {
      const epoch = parseEpoch(fields);
      if (epoch === undefined) {
        reportError('epoch', new Error('invalid_argument: expected { epoch: bigint, baseKey: Uint8Array, ownLeaf: number }'));
      } else if (keyring === undefined) {
        pendingEpochs.push(epoch);
      } else {
        installEpoch(epoch);
      }
      break;
    }
    case 'expect': {
      const { label, leaf } = fields;
      if (typeof label !== 'string') break;
      if (typeof leaf === 'number' && Number.isInteger(leaf) && leaf >= 0) expectedSenders.set(label, leaf);
      else expectedSenders.delete(label);
      break;
    }
    case 'streams': {
      const { readable, writable } = fields;
      if (!(readable instanceof ReadableStream) || !(writable instanceof WritableStream)) {
        reportError('transform', new Error('invalid_argument: streams message without readable and writable'));
        break;
      }
      attach(
        fields,
        readable as ReadableStream<EncodedFrame>,
        writable as WritableStream<EncodedFrame>,
      );
      break;
    }
    default:
      break;
  }
};

setInterval(() => {
  if (keyring !== undefined) {
    try {
      keyring.expire(performance.now());
      const epoch = keyring.currentEpoch();
      stats.epoch = epoch === undefined ? undefined : Number(epoch);
    } catch (error) {
      reportError('expire', error);
    }
  }
  scope.postMessage(stats);
}, STATS_INTERVAL_MS);

// A promise chain rather than top-level await, so the worker works in any bundle format.
// The page starts this script from a blob (see startFrameWorker): the module sits beside the
// script's own URL, which a blob URL carries after its `blob:`.
const scriptUrl = scope.location.href.replace(/^blob:/, '');
init({ module_or_path: wasmModuleRequest(new URL('sealroom_wasm_bg.wasm', scriptUrl)) })
  .then(() => {
    keyring = new Keyring();
    for (const epoch of pendingEpochs.splice(0)) installEpoch(epoch);
    scope.postMessage({ type: 'ready' });
  })
  .catch((error: unknown) => {
    // Without wasm every frame stays dropped: fail closed, and tell the page.
    reportError('init', error);
  });
