// A meeting: the signalling connection, the MLS session, the PeerConnection and the frame
// worker, tied together, plus what the view shows. One connection attempt at a time; when the
// connection drops, everything but the local capture is rebuilt (a new device key, a new
// member of the group), as the server has already proposed our removal.

import { Device, type RosterMember } from 'sealroom-wasm';
import { MediaLink, type RemoteTrack, type TrackRole } from './media';
import { type ClientMessage, type ParticipantInfo, type ServerMessage, decodeMessage, encodeMessage, fromBase64 } from './protocol';
import { type EpochState, MlsSession, errorText } from './session';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'left' | 'failed';
export type E2eeState = 'connecting' | 'waiting' | 'encrypted' | 'removed';

export interface WorkerStats {
  sent: { audio: number; video: number };
  droppedNoKey: number;
  decrypted: Record<string, { audio: number; video: number }>;
  failures: Record<string, number>;
  firstDecryptedAtMs?: number;
  epoch?: bigint | number;
}

export interface RemoteParticipant {
  id: string;
  /** The name the server claims; the MLS roster decides what is shown as verified truth. */
  name: string;
  tracks: Partial<Record<TrackRole, { mid: string; track: MediaStreamTrack }>>;
  cameraLive: boolean;
  screenLive: boolean;
  audioLevel: number;
}

export interface LocalMedia {
  audio: MediaStreamTrack | null;
  video: MediaStreamTrack | null;
}

const SELF_UPDATE_INTERVAL_MS = 10 * 60 * 1000;
const STATS_INTERVAL_MS = 500;

export class Meeting {
  connection: ConnectionState = 'connecting';
  connectionDetail = '';
  participantId: string | null = null;
  epoch: EpochState | null = null;
  removed = false;
  warnings: string[] = [];
  errors: string[] = [];
  workerStats: WorkerStats | null = null;
  readonly remotes = new Map<string, RemoteParticipant>();
  serverParticipants: ParticipantInfo[] = [];
  activeSpeaker: string | null = null;
  screen: MediaStreamTrack | null = null;
  micMuted = false;
  cameraOff = false;
  /** Called whenever something the view shows changed. */
  onChange: () => void = () => {};

  private socket: WebSocket | null = null;
  private session: MlsSession | null = null;
  private link: MediaLink | null = null;
  private worker: Worker | null = null;
  private queue: Promise<void> = Promise.resolve();
  private attempt = 0;
  private timers: number[] = [];
  private retryTimer: number | null = null;
  private generation = 0;
  private lastFrames = new Map<string, { frames: number; changedAt: number }>();

  constructor(readonly room: string, readonly displayName: string, readonly local: LocalMedia) {
    this.micMuted = !local.audio;
    this.cameraOff = !local.video;
  }

  get e2ee(): E2eeState {
    if (this.removed) return 'removed';
    if (this.connection !== 'connected') return 'connecting';
    if (!this.epoch) return 'waiting';
    const sent = this.workerStats ? this.workerStats.sent.audio + this.workerStats.sent.video : 0;
    const sending = this.local.audio !== null || this.local.video !== null || this.screen !== null;
    return sent > 0 || !sending ? 'encrypted' : 'waiting';
  }

  /** Roster names by leaf, for stats of members who left. */
  nameOfLeaf(leaf: number): string | undefined {
    return this.session?.namesByLeaf.get(leaf);
  }

  get roster(): RosterMember[] {
    return this.epoch?.roster ?? [];
  }

  start(): void {
    this.connect();
    this.timers.push(window.setInterval(() => void this.pollStats(), STATS_INTERVAL_MS));
    this.timers.push(window.setInterval(() => this.selfUpdate(), SELF_UPDATE_INTERVAL_MS));
    window.addEventListener('pagehide', this.onPageHide);
  }

  private readonly onPageHide = (): void => {
    this.sendRaw({ type: 'leave' });
  };

  private connect(): void {
    const generation = ++this.generation;
    this.teardownConnection();
    this.connection = this.attempt === 0 ? 'connecting' : 'reconnecting';
    this.onChange();
    const url = new URL('/ws', location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = () => {
      if (generation !== this.generation) return;
      this.sendRaw({ type: 'join', room: this.room, display_name: this.displayName });
    };
    socket.onmessage = (event) => {
      if (generation !== this.generation || typeof event.data !== 'string') return;
      const message = decodeMessage(event.data);
      if (!message) return;
      // One message at a time, in order: SDP handling is asynchronous.
      this.queue = this.queue.then(() => (generation === this.generation ? this.handle(message) : undefined)).catch((e: unknown) => {
        this.noteError(`${message.type}: ${errorText(e)}`);
      });
    };
    socket.onclose = () => {
      if (generation !== this.generation) return;
      this.connectionLost('The connection to the server dropped.');
    };
  }

  private connectionLost(detail: string): void {
    if (this.connection === 'left') return;
    this.generation++;
    this.teardownConnection();
    this.connection = 'reconnecting';
    this.connectionDetail = detail;
    this.attempt++;
    const delay = Math.min(1000 * 2 ** Math.min(this.attempt - 1, 4), 15000);
    this.onChange();
    this.retryTimer = window.setTimeout(() => this.connect(), delay);
  }

  private teardownConnection(): void {
    if (this.retryTimer !== null) window.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.socket) {
      this.socket.onclose = null;
      this.socket.onmessage = null;
      if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.close();
    }
    this.socket = null;
    this.link?.close();
    this.link = null;
    this.session?.dispose();
    this.session = null;
    this.worker?.terminate();
    this.worker = null;
    this.epoch = null;
    this.workerStats = null;
    this.remotes.clear();
    this.serverParticipants = [];
    this.lastFrames.clear();
    this.activeSpeaker = null;
  }

  private async handle(message: ServerMessage): Promise<void> {
    switch (message.type) {
      case 'joined':
        if (!this.session) {
          await this.onFirstJoined(message.participant_id, message.external_sender, message.group);
        } else {
          this.send(this.session.onMessage(message));
        }
        break;
      case 'sdp_answer':
        await this.link?.acceptAnswer(message.sdp);
        break;
      case 'sdp_offer': {
        if (!this.link) break;
        const sdp = await this.link.acceptOffer(message.sdp);
        this.sendRaw({ type: 'sdp_answer', sdp });
        break;
      }
      case 'participants':
        this.serverParticipants = message.participants;
        this.syncRemotes();
        break;
      case 'error':
        this.noteError(`server: ${message.code}: ${message.message}`);
        if (message.code === 'invalid_room_name' || message.code === 'invalid_display_name') {
          this.fail(message.code === 'invalid_room_name' ? 'This room name is not valid.' : 'This display name is not valid.');
        }
        break;
      default:
        if (this.session) this.send(this.session.onMessage(message));
    }
    this.onChange();
  }

  private async onFirstJoined(participantId: string, externalSender: string, action: 'create_group' | 'await_welcome'): Promise<void> {
    this.participantId = participantId;
    this.attempt = 0;
    this.connection = 'connected';
    this.connectionDetail = '';
    const worker = new Worker('/e2ee-worker.js', { type: 'module', name: 'sealroom-e2ee' });
    worker.onmessage = (event: MessageEvent) => this.onWorkerMessage(event.data);
    worker.onerror = (event) => this.noteError(`e2ee worker: ${event.message}`);
    this.worker = worker;

    const generation = this.generation;
    const link = new MediaLink(worker, { audio: this.local.audio, video: this.cameraOff ? null : this.local.video });
    this.link = link;
    link.onRemoteTrack = (remote) => this.onRemoteTrack(remote);
    link.onRemoteTrackGone = (remote) => this.onRemoteTrackGone(remote);
    link.onStateChange = (state) => {
      if (generation === this.generation && state === 'failed') this.connectionLost('Media connection failed.');
    };
    if (this.screen) await link.replace('screen', this.screen);

    this.session = new MlsSession(new Device(this.displayName), fromBase64(externalSender), {
      epoch: (state) => this.onEpoch(state),
      removed: () => {
        this.removed = true;
        this.epoch = null;
        this.onChange();
      },
      warning: (text) => {
        this.warnings.push(text);
        this.onChange();
      },
      error: (text) => this.noteError(`mls: ${text}`),
      application: () => {},
    });
    const offer = await link.createOffer();
    this.sendRaw({ type: 'sdp_offer', sdp: offer });
    this.send(this.session.onJoined(action));
  }

  private onEpoch(state: EpochState): void {
    this.epoch = state;
    this.removed = false;
    this.worker?.postMessage({ type: 'epoch', epoch: state.epoch, baseKey: state.baseKey, ownLeaf: state.ownLeaf });
    this.onChange();
  }

  private onWorkerMessage(data: unknown): void {
    if (typeof data !== 'object' || data === null) return;
    const message = data as { type?: string } & Partial<WorkerStats>;
    if (message.type === 'stats') {
      this.workerStats = message as WorkerStats;
      this.onChange();
    }
  }

  private onRemoteTrack(remote: RemoteTrack): void {
    const participant = this.remoteFor(remote.participantId);
    participant.tracks[remote.role] = { mid: remote.mid, track: remote.track };
    this.onChange();
  }

  private onRemoteTrackGone(remote: RemoteTrack): void {
    const participant = this.remotes.get(remote.participantId);
    if (participant && participant.tracks[remote.role]?.mid === remote.mid) delete participant.tracks[remote.role];
    this.onChange();
  }

  private remoteFor(id: string): RemoteParticipant {
    let participant = this.remotes.get(id);
    if (!participant) {
      const name = this.serverParticipants.find((p) => p.id === id)?.display_name ?? 'Someone';
      participant = { id, name, tracks: {}, cameraLive: false, screenLive: false, audioLevel: 0 };
      this.remotes.set(id, participant);
    }
    return participant;
  }

  /** The server's list says who is connected; tiles follow it (the MLS roster says who can decrypt). */
  private syncRemotes(): void {
    const present = new Set<string>();
    for (const p of this.serverParticipants) {
      if (p.id === this.participantId) continue;
      present.add(p.id);
      this.remoteFor(p.id).name = p.display_name;
    }
    for (const id of [...this.remotes.keys()]) if (!present.has(id)) this.remotes.delete(id);
  }

  private async pollStats(): Promise<void> {
    const link = this.link;
    if (!link || this.connection !== 'connected') return;
    let report: RTCStatsReport;
    try {
      report = await link.pc.getStats();
    } catch {
      return;
    }
    const byMid = new Map<string, { audioLevel?: number; framesDecoded?: number }>();
    report.forEach((stat: { type: string; mid?: string; audioLevel?: number; framesDecoded?: number }) => {
      if (stat.type === 'inbound-rtp' && stat.mid) byMid.set(stat.mid, stat);
    });
    const now = performance.now();
    let loudest: { id: string; level: number } | null = null;
    for (const participant of this.remotes.values()) {
      const audio = participant.tracks.audio && byMid.get(participant.tracks.audio.mid);
      participant.audioLevel = audio?.audioLevel ?? 0;
      if (participant.audioLevel > 0.02 && (!loudest || participant.audioLevel > loudest.level)) {
        loudest = { id: participant.id, level: participant.audioLevel };
      }
      participant.cameraLive = this.isLive(participant.tracks.camera?.mid, byMid, now);
      participant.screenLive = this.isLive(participant.tracks.screen?.mid, byMid, now);
    }
    // Keep the highlight briefly so it does not flicker between words.
    if (loudest) this.activeSpeaker = loudest.id;
    else if (this.activeSpeaker && !this.remotes.has(this.activeSpeaker)) this.activeSpeaker = null;
    else if (this.activeSpeaker && (this.remotes.get(this.activeSpeaker)?.audioLevel ?? 0) < 0.005) this.activeSpeaker = null;
    this.onChange();
  }

  private isLive(mid: string | undefined, byMid: Map<string, { framesDecoded?: number }>, now: number): boolean {
    if (!mid) return false;
    const frames = byMid.get(mid)?.framesDecoded ?? 0;
    const last = this.lastFrames.get(mid);
    if (!last || frames !== last.frames) {
      this.lastFrames.set(mid, { frames, changedAt: frames > 0 ? now : -Infinity });
      return frames > 0;
    }
    return now - last.changedAt < 2000;
  }

  // --- controls ---

  async setMicMuted(muted: boolean): Promise<void> {
    this.micMuted = muted;
    if (this.local.audio) this.local.audio.enabled = !muted;
    this.onChange();
  }

  /** Camera off releases the device and stops sending video; on reopens it. */
  async setCameraOff(off: boolean, open: () => Promise<MediaStreamTrack | null>): Promise<void> {
    if (off) {
      this.local.video?.stop();
      this.local.video = null;
      this.cameraOff = true;
      await this.link?.replace('camera', null);
    } else {
      const track = await open();
      if (!track) return;
      this.local.video = track;
      this.cameraOff = false;
      await this.link?.replace('camera', track);
    }
    this.onChange();
  }

  async switchCamera(track: MediaStreamTrack): Promise<void> {
    const old = this.local.video;
    this.local.video = track;
    this.cameraOff = false;
    await this.link?.replace('camera', track);
    if (old && old !== track) old.stop();
    this.onChange();
  }

  async switchMicrophone(track: MediaStreamTrack): Promise<void> {
    const old = this.local.audio;
    track.enabled = !this.micMuted;
    this.local.audio = track;
    await this.link?.replace('audio', track);
    if (old && old !== track) old.stop();
    this.onChange();
  }

  async startScreenShare(): Promise<void> {
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
    const track = stream.getVideoTracks()[0];
    if (!track) return;
    track.contentHint = 'detail';
    track.addEventListener('ended', () => void this.stopScreenShare());
    this.screen = track;
    await this.link?.replace('screen', track);
    this.onChange();
  }

  async stopScreenShare(): Promise<void> {
    const track = this.screen;
    this.screen = null;
    track?.stop();
    await this.link?.replace('screen', null);
    this.onChange();
  }

  selfUpdate(): void {
    if (this.session && this.connection === 'connected') this.send(this.session.selfUpdate());
  }

  leave(): void {
    this.sendRaw({ type: 'leave' });
    this.generation++;
    this.teardownConnection();
    for (const timer of this.timers) window.clearInterval(timer);
    this.timers = [];
    window.removeEventListener('pagehide', this.onPageHide);
    this.local.audio?.stop();
    this.local.video?.stop();
    this.screen?.stop();
    this.connection = 'left';
    this.onChange();
  }

  /** The PeerConnection, for diagnostics and tests. */
  get peerConnection(): RTCPeerConnection | null {
    return this.link?.pc ?? null;
  }

  private fail(detail: string): void {
    this.generation++;
    this.teardownConnection();
    this.connection = 'failed';
    this.connectionDetail = detail;
    this.onChange();
  }

  private send(messages: ClientMessage[]): void {
    for (const message of messages) this.sendRaw(message);
  }

  private sendRaw(message: ClientMessage): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(encodeMessage(message));
  }

  private noteError(text: string): void {
    console.warn('sealroom:', text);
    this.errors.push(text);
    if (this.errors.length > 50) this.errors.shift();
    this.onChange();
  }
}
