// The one RTCPeerConnection to the SFU. Three send-only transceivers are created up front (audio,
// camera, screen), each with its SFrame transform set at once: a transform set after SDP was
// applied is silently ignored by Chromium (seen in its tests), which would send media unprotected. The
// SFU offers other participants' tracks later; their receive transforms are set in `ontrack`,
// while the offer is being applied and before our answer exists.

export type TrackRole = 'audio' | 'camera' | 'screen';

export interface RemoteTrack {
  /** Our transceiver's mid. */
  mid: string;
  /** The publisher's server participant id (the msid stream id the SFU writes). */
  participantId: string;
  role: TrackRole;
  track: MediaStreamTrack;
}

type TransformMode = 'script' | 'streams';

declare global {
  interface RTCRtpSender { createEncodedStreams?(): { readable: ReadableStream; writable: WritableStream } }
  interface RTCRtpReceiver { createEncodedStreams?(): { readable: ReadableStream; writable: WritableStream } }
}

/** How this browser lets us protect frames, or null if it cannot (then we must not send). */
export function transformMode(): TransformMode | null {
  if (typeof (globalThis as { RTCRtpScriptTransform?: unknown }).RTCRtpScriptTransform === 'function') return 'script';
  if (typeof RTCRtpSender !== 'undefined' && 'createEncodedStreams' in RTCRtpSender.prototype) return 'streams';
  return null;
}

export class MediaLink {
  readonly pc: RTCPeerConnection;
  readonly audio: RTCRtpTransceiver;
  readonly camera: RTCRtpTransceiver;
  readonly screen: RTCRtpTransceiver;
  private readonly mode: TransformMode;
  private readonly transformed = new WeakSet<RTCRtpReceiver>();
  /** mid → msid (stream id = publisher, track id = publisher's mid), from the SFU's offers. */
  private msids = new Map<string, Msid>();
  private readonly remotes = new Map<string, RemoteTrack>();
  onRemoteTrack: (track: RemoteTrack) => void = () => {};
  onRemoteTrackGone: (track: RemoteTrack) => void = () => {};
  onStateChange: (state: RTCPeerConnectionState) => void = () => {};
  onIceStateChange: (state: RTCIceConnectionState) => void = () => {};

  /** `iceServers`: the TURN relays the server gave, for where the direct path to the SFU fails. */
  constructor(private readonly worker: Worker, tracks: { audio: MediaStreamTrack | null; video: MediaStreamTrack | null }, iceServers: RTCIceServer[] = []) {
    const mode = transformMode();
    if (!mode) throw new Error('unsupported: this browser cannot encrypt media end to end (no Encoded Transform)');
    this.mode = mode;
    const config: RTCConfiguration & { encodedInsertableStreams?: boolean } = { bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require', iceServers };
    if (mode === 'streams') config.encodedInsertableStreams = true;
    this.pc = new RTCPeerConnection(config);
    this.audio = this.sendOnly('audio', tracks.audio, 'audio');
    this.camera = this.sendOnly('video', tracks.video, 'camera');
    this.screen = this.sendOnly('video', null, 'screen');
    preferVp8(this.camera);
    preferVp8(this.screen);
    this.pc.ontrack = (event) => this.onTrack(event);
    this.pc.onconnectionstatechange = () => this.onStateChange(this.pc.connectionState);
    this.pc.oniceconnectionstatechange = () => this.onIceStateChange(this.pc.iceConnectionState);
  }

  private sendOnly(kind: 'audio' | 'video', track: MediaStreamTrack | null, label: TrackRole): RTCRtpTransceiver {
    const transceiver = this.pc.addTransceiver(track ?? kind, { direction: 'sendonly', streams: [] });
    // Right away, before any SDP: later would be ignored (fail-open).
    this.attachTransform(transceiver.sender, 'send', kind, label);
    return transceiver;
  }

  private attachTransform(endpoint: RTCRtpSender | RTCRtpReceiver, side: 'send' | 'receive', kind: 'audio' | 'video', label: string): void {
    if (this.mode === 'script') {
      endpoint.transform = new RTCRtpScriptTransform(this.worker, { side, kind, label });
      return;
    }
    const streams = endpoint.createEncodedStreams?.();
    if (!streams) throw new Error('unsupported: no encoded streams');
    this.worker.postMessage({ type: 'streams', side, kind, label, readable: streams.readable, writable: streams.writable },
      [streams.readable as unknown as Transferable, streams.writable as unknown as Transferable]);
  }

  /** Our offer; with `iceRestart`, new ICE credentials and fresh candidates (the network changed
   *  or the path died): the SFU answers with new ones of its own and keeps everything else. */
  async createOffer(iceRestart = false): Promise<string> {
    const offer = await this.pc.createOffer({ iceRestart });
    await this.pc.setLocalDescription(offer);
    return this.pc.localDescription?.sdp ?? offer.sdp ?? '';
  }

  /** An offer of ours waits for its answer: an SFU offer arriving now crossed it, and the SFU
   *  offers again after answering ours. */
  get offering(): boolean {
    return this.pc.signalingState === 'have-local-offer';
  }

  /** ICE has a working path. */
  get iceWorking(): boolean {
    return this.pc.iceConnectionState === 'connected' || this.pc.iceConnectionState === 'completed';
  }

  async acceptAnswer(sdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
  }

  /** The SFU renegotiates: apply its offer, protect new receivers, answer. */
  async acceptOffer(sdp: string): Promise<string> {
    this.msids = parseMsids(sdp);
    await this.pc.setRemoteDescription({ type: 'offer', sdp });
    for (const transceiver of this.pc.getTransceivers()) this.protectReceiver(transceiver);
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    this.sweepRemotes();
    return this.pc.localDescription?.sdp ?? answer.sdp ?? '';
  }

  private protectReceiver(transceiver: RTCRtpTransceiver): void {
    if (transceiver === this.audio || transceiver === this.camera || transceiver === this.screen) return;
    const receiver = transceiver.receiver;
    if (this.transformed.has(receiver) || transceiver.currentDirection === 'stopped') return;
    this.transformed.add(receiver);
    const kind = receiver.track.kind === 'audio' ? 'audio' : 'video';
    this.attachTransform(receiver, 'receive', kind, `recv-${transceiver.mid ?? '?'}`);
  }

  private onTrack(event: RTCTrackEvent): void {
    const transceiver = event.transceiver;
    this.protectReceiver(transceiver);
    const mid = transceiver.mid;
    if (!mid) return;
    const msid = this.msids.get(mid);
    const participantId = msid?.stream ?? event.streams[0]?.id;
    if (!participantId) return;
    const role: TrackRole = event.track.kind === 'audio' ? 'audio' : this.videoRole(participantId, msid?.track ?? mid);
    const remote: RemoteTrack = { mid, participantId, role, track: event.track };
    this.remotes.set(mid, remote);
    this.onRemoteTrack(remote);
  }

  /** A publisher's first video track is its camera, the second its screen (both browsers and
   *  the native client create them in that order). */
  private videoRole(participantId: string, publisherMid: string): TrackRole {
    const videoMids = [...this.msids.entries()]
      .filter(([, m]) => m.stream === participantId && m.kind === 'video')
      .map(([, m]) => m.track)
      .sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
    return videoMids.indexOf(publisherMid) > 0 ? 'screen' : 'camera';
  }

  /** Forgets remote tracks whose m-line the SFU stopped (their publisher left). */
  private sweepRemotes(): void {
    for (const transceiver of this.pc.getTransceivers()) {
      const mid = transceiver.mid;
      if (!mid) continue;
      const remote = this.remotes.get(mid);
      if (remote && (transceiver.currentDirection === 'inactive' || transceiver.currentDirection === 'stopped')) {
        this.remotes.delete(mid);
        this.onRemoteTrackGone(remote);
      }
    }
  }

  remoteTracks(): RemoteTrack[] {
    return [...this.remotes.values()];
  }

  async replace(role: 'audio' | 'camera' | 'screen', track: MediaStreamTrack | null): Promise<void> {
    const transceiver = role === 'audio' ? this.audio : role === 'camera' ? this.camera : this.screen;
    await transceiver.sender.replaceTrack(track);
  }

  close(): void {
    this.pc.ontrack = null;
    this.pc.onconnectionstatechange = null;
    this.pc.oniceconnectionstatechange = null;
    this.pc.close();
  }
}

export interface Msid { stream: string; track: string; kind: string }

/** `a=mid` → `a=msid:<stream> <track>` and the media kind, for each m-section of an SDP. */
export function parseMsids(sdp: string): Map<string, Msid> {
  const out = new Map<string, Msid>();
  for (const section of sdp.split(/\r?\nm=/).slice(1)) {
    const kind = section.split(' ')[0] ?? '';
    const mid = /\na=mid:(\S+)/.exec(section)?.[1];
    const msid = /\na=msid:(\S+)(?: (\S+))?/.exec(section);
    if (mid && msid?.[1]) out.set(mid, { stream: msid[1], track: msid[2] ?? mid, kind });
  }
  return out;
}

function preferVp8(transceiver: RTCRtpTransceiver): void {
  const codecs = RTCRtpReceiver.getCapabilities?.('video')?.codecs;
  if (!codecs || !transceiver.setCodecPreferences) return;
  const vp8 = codecs.filter((c) => c.mimeType.toLowerCase() === 'video/vp8');
  const rest = codecs.filter((c) => c.mimeType.toLowerCase() !== 'video/vp8');
  try {
    transceiver.setCodecPreferences([...vp8, ...rest]);
  } catch {
    // Not fatal: the SFU only accepts VP8 anyway.
  }
}
