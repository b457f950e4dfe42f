// A meeting: the signalling connection, the MLS session, the PeerConnection and the frame
// worker, tied together, plus what the view shows. One connection attempt at a time. When the
// signalling connection drops, a new one resumes the session (`resume` with the token the
// server gave after `joined` and the last `seq` handled): the same participant, MLS leaf,
// PeerConnection, worker and keys, and the server replays exactly what we missed. Only when
// the server refuses the resume (the session expired, the server restarted), when we never got
// a token, or when the media connection itself failed, is everything but the local capture
// rebuilt: a fresh join, a new device key, a new member of the group. A removal by the server
// (`removed`: kicked, banned, denied from the lobby, meeting ended) ends it for good: no
// reconnect, and so does a sign-in that expired (the server refuses the connection before it
// opens). In a lobby room a joiner waits (`inLobby`) without media until a moderator lets it
// in; a moderator's client adds only the devices its user admitted. A join from a host link
// carries the room's moderator key and enters as a moderator.

import type { RosterMember } from 'sealroom-wasm';
import { currentSession } from './account';
import { prepareOrgIdentity } from './org-identity';
import { MediaLink, type RemoteTrack, type TrackRole } from './media';
import { BreakoutRooms, type RoomMeeting } from './breakouts';
import {
  type BreakoutTicket, type ClientMessage, DEFAULT_PERMISSIONS, type ErrorCode, type ParticipantInfo, type Permissions, type RemovalReason,
  type Role, type ServerMessage, decodeMessage, encodeMessage, permits,
} from './protocol';
import { ChatLog } from './chat';
import { deviceSecret } from './device-key';
import type { RecordedSource } from './compositor';
import { FileTransfers } from './files';
import { MeetingRecorder, RecordingLibrary } from './recording';
import { Interactions } from './interactions';
import { startFrameWorker } from './wasm-module';
import { type ActiveRecording, type EpochState, MlsSession, type PollDraft, type PollView, type Reaction, type SessionEvents, errorText } from './session';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'left' | 'failed' | 'removed';

/** Why the server did not let us in on the first join (the pre-join screen shows it). */
export type JoinRefusal =
  /** Wrong or missing password, or a locked room: one answer by design. */
  | { code: 'access_denied' }
  /** The host link's key was refused: a wrong key, or a room that no longer exists. */
  | { code: 'host_link_refused' }
  | { code: 'rate_limited'; retryAfterMs: number }
  | { code: 'banned' }
  /** The organisation lets only signed-in people join, and we joined as a guest. */
  | { code: 'sign_in_required' }
  /** Our sign-in expired: the server refused the connection (its cookie is cleared now, so
   *  the next attempt joins as a guest). */
  | { code: 'session_expired' }
  /** The connection closed before the server answered. */
  | { code: 'unreachable' }
  | { code: 'invalid'; message: string };

export interface RoomSettings {
  locked: boolean;
  passwordRequired: boolean;
  /** Joiners wait in the lobby until a moderator admits them. */
  lobby: boolean;
  permissions: Permissions;
  /** Nobody joins while no moderator is in the meeting. */
  waitForModerator: boolean;
}
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
  /** The name in the MLS roster for the key the server pairs with this participant, or the
   *  server's display name while that key is in no roster. */
  name: string;
  /** The key fingerprint the server pairs with this participant (its word). */
  fingerprint: string | null;
  /** The roster member with that key: the only leaf this participant's tracks show frames of. */
  member: RosterMember | null;
  tracks: Partial<Record<TrackRole, { mid: string; track: MediaStreamTrack }>>;
  cameraLive: boolean;
  screenLive: boolean;
  audioLevel: number;
}

/** How a breakout room's meeting gets in: a ticket from our main-room session, and our core
 *  for the room, made by the main room's core. */
export interface BreakoutEntry {
  ticket(): BreakoutTicket | null;
  session(events: SessionEvents): MlsSession;
}

export interface LocalMedia {
  audio: MediaStreamTrack | null;
  video: MediaStreamTrack | null;
}

const SELF_UPDATE_INTERVAL_MS = 10 * 60 * 1000;
const STATS_INTERVAL_MS = 500;
/** How long to keep trying to resume after the signalling connection dropped. The server keeps
 *  a session 30 s by default and refuses a resume after that (then we join afresh); this only
 *  bounds an outage in which the server cannot be reached at all. */
const RESUME_PATIENCE_MS = 60_000;
/** What the page may send during an outage, at most; more is dropped (and noted). */
const MAX_OUTBOX = 256;
/** A media path lost this long (ICE `disconnected`) is restarted; `failed` is at once. */
const ICE_RESTART_DELAY_MS = 2000;
/** A restart still without a path after this is followed by another… */
const ICE_RESTART_RETRY_MS = 5000;
/** …up to this many in a row (about the SFU's 30 s reconnect window); then we join afresh. */
const MAX_ICE_RESTARTS = 6;

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
  /** Our role, as the server's participant list says. */
  role: Role = 'participant';
  /** The account we are signed in to, as the server's participant list says (null: a guest). */
  account: string | null = null;
  roomSettings: RoomSettings = { locked: false, passwordRequired: false, lobby: false, permissions: DEFAULT_PERMISSIONS, waitForModerator: false };
  /** The room's moderator key, once the server gave it to us (moderators only): the secret of
   *  the host link. Kept in memory only. */
  moderatorKey: string | null = null;
  /** Set when the server removed us (connection `removed`). */
  removedReason: RemovalReason | null = null;
  /** We were still waiting in the lobby when removed (a denial, not a kick). */
  removedFromLobby = false;
  /** We asked the server to end the meeting for everyone. */
  endedByUs = false;
  /** We knocked and wait for a moderator: no media, no group, until the server lets us in. */
  inLobby = false;
  /** Why we wait: for a moderator's admission, or for a moderator to arrive at all. */
  lobbyWait: 'admission' | 'moderator' = 'admission';
  /** Moderators: who waits in the lobby, from the server. */
  lobby: ParticipantInfo[] = [];
  /** Moderators: lobby entries we admitted and that have not left the lobby list yet. */
  readonly admitting = new Set<string>();
  /** A moderator muted us: the SFU drops our audio until we send `unmute`. */
  mutedByModerator = false;
  /** The conversation, kept in this tab across reloads. */
  readonly chat: ChatLog;
  /** The view shows the chat: what arrives is read. */
  chatVisible = false;
  /** Raised hands and polls, as the MLS core last said. */
  readonly interactions = new Interactions();
  /** Files sent and offered in the meeting, end-to-end encrypted. */
  readonly files = new FileTransfers(() => this.blobToken, () => this.onChange());
  /** The recordings under way in the meeting, from the recorders' notices in the group. */
  recordings: ActiveRecording[] = [];
  /** Our recording of the meeting, if we make one. */
  readonly recorder = new MeetingRecorder({
    blobToken: () => this.blobToken,
    sources: () => this.recordedSources(),
    announce: (id, owners) => {
      if (this.session?.joined) this.send(this.session.announceRecording(id, owners));
    },
    changed: () => this.onChange(),
  });
  /** The recordings sealed to this browser's key, in the server's store. */
  readonly recordingLibrary = new RecordingLibrary(() => this.onChange());
  /** The breakout rooms a moderator opened, and the one we are in. */
  readonly breakouts: BreakoutRooms<Meeting> = new BreakoutRooms<Meeting>({
    command: (act) => this.interact(act),
    roomMeeting: (index) => this.breakoutMeeting(index),
    pauseMedia: (from) => this.pauseMedia(from),
    notice: (text) => this.onNotice(text),
    changed: () => this.onChange(),
  });
  /** The view shows the polls: a new one is seen. */
  pollsVisible = false;
  /** Called whenever something the view shows changed. */
  onChange: () => void = () => {};
  /** A request the server refused (forbidden, unknown_participant, …). */
  onServerError: (code: ErrorCode, message: string) => void = () => {};
  /** Something to tell the user once (a toast). */
  onNotice: (text: string) => void = () => {};
  /** A member's reaction (ours too), to show for a moment. */
  onReaction: (reaction: Reaction) => void = () => {};

  private socket: WebSocket | null = null;
  private session: MlsSession | null = null;
  private link: MediaLink | null = null;
  private worker: Worker | null = null;
  private queue: Promise<void> = Promise.resolve();
  private attempt = 0;
  private timers: number[] = [];
  private retryTimer: number | null = null;
  /** Bumped whenever the socket is replaced: the callbacks of an older one are ignored. */
  private socketGeneration = 0;
  /** Bumped whenever the session (group, PeerConnection, worker) is torn down: queued messages
   *  and callbacks of an older session are dropped. A resume keeps it. */
  private sessionGeneration = 0;
  /** What resumes our session from a new connection, once the server gave the token. */
  private resumable: { participantId: string; token: string } | null = null;
  /** This session's bearer token for the room's encrypted files, once the server gave it. */
  private blobToken: string | null = null;
  /** The highest `seq` handled in this session: a resume asks for what came after it, and a
   *  numbered message at or below it is a repeat, dropped (each is handled exactly once). */
  private lastSeq = 0;
  /** The socket in hand was opened to resume: its first answer decides. */
  private resuming = false;
  /** The socket in hand was opened to join and `joined` has not come yet. */
  private joining = false;
  /** Numbered messages of the resume's replay still to come on the socket in hand. */
  private replayLeft = 0;
  /** The socket carries our session (joined, or resumed and caught up): sends go out at once. */
  private live = false;
  /** What the page sent while the session was away: it goes out once the session is resumed
   *  and caught up (in order, after the replay). A fresh join drops it (see `teardownConnection`). */
  private outbox: ClientMessage[] = [];
  /** What we sent in this session, numbered (the last MAX_OUTBOX): after a resume, those the
   *  server did not take go again (they may have died with the old connection). */
  private sentLog: { seq: number; message: ClientMessage }[] = [];
  private lastClientSeq = 0;
  /** The number of our last message the server took, from `resumed`. */
  private takenClientSeq = 0;
  /** When the signalling connection dropped (performance.now()), while we try to resume. */
  private droppedAt: number | null = null;
  /** The TURN relays the server gave, for the PeerConnection. */
  private iceServers: RTCIceServer[] = [];
  /** Whether this session's TURN relays are known (see `relaysArrived`). */
  private relaysKnown = false;
  /** The PeerConnection waiting to be made. */
  private peerSetupWaiter: (() => void) | null = null;
  /** Sessions resumed so far (diagnostics and tests). */
  resumes = 0;
  /** ICE restarts so far (diagnostics and tests). */
  iceRestarts = 0;
  private iceRestartsInARow = 0;
  private iceTimer: number | null = null;
  private lastFrames = new Map<string, { frames: number; changedAt: number }>();
  /** The server let us in at least once: later refusals are a reconnect's, not the pre-join's. */
  private admitted = false;
  private admission: ((refusal: JoinRefusal | null) => void) | null = null;
  private pendingPassword: { password: string | null; done: (error: string | null) => void } | null = null;
  /** The leaf last told to the worker per receiving mid. */
  private readonly expectedSenders = new Map<string, number | null>();
  /** Our SDP offer waits until we are let in from the lobby. */
  private offerPending = false;
  /** The join in flight carries a moderator key. */
  private joinedWithKey = false;
  /** A reconnect's key was refused (the room ended while we were away): rejoin without it. */
  private keyRefused = false;

  /** `password` is sent with every join, reconnects included. `hostKey`: the moderator key of
   *  a host link, sent with the first join. `linkSecret`: the room link's secret, if we came with
   *  the link (our MLS core proves it, or founds the link's group); if we found the group
   *  without one, the link our core made. */
  constructor(readonly room: string, readonly displayName: string, readonly local: LocalMedia, private password: string | null = null, private readonly hostKey: string | null = null, private linkSecret: string | null = null, readonly breakoutEntry: BreakoutEntry | null = null) {
    this.micMuted = !local.audio;
    this.cameraOff = !local.video;
    this.chat = ChatLog.load(room);
  }

  /** The host link (the room's address with the moderator key in the fragment, which browsers
   *  send in no request and no Referer), once we know the key. */
  get hostLink(): string | null {
    if (!this.moderatorKey) return null;
    const link = this.linkSecret ? `&k=${this.linkSecret}` : '';
    return `${location.origin}/${encodeURIComponent(this.room)}#host=${this.moderatorKey}${link}`;
  }

  get e2ee(): E2eeState {
    if (this.removed || this.connection === 'removed') return 'removed';
    if (this.connection !== 'connected') return 'connecting';
    if (!this.epoch) return 'waiting';
    const sent = this.workerStats ? this.workerStats.sent.audio + this.workerStats.sent.video : 0;
    const sending = this.local.audio !== null || this.local.video !== null || this.screen !== null;
    // The worker holds no key (one failed to install): nothing of ours goes out.
    const keyless = this.workerStats !== null && this.workerStats.epoch === undefined;
    return (sent > 0 && !keyless) || !sending ? 'encrypted' : 'waiting';
  }

  /** Roster names by leaf, for stats of members who left. */
  nameOfLeaf(leaf: number): string | undefined {
    return this.session?.nameAtLeaf(leaf);
  }

  /** Members of the encrypted group whom the server does not list (the MLS core's word). */
  unlistedMembers(): RosterMember[] {
    return this.session?.unlistedMembers() ?? [];
  }

  get roster(): RosterMember[] {
    return this.epoch?.roster ?? [];
  }

  get isModerator(): boolean {
    return this.role === 'moderator';
  }

  /** Private messages other members sealed to someone else: our key could not open them. */
  get privateMessagesNotForUs(): number {
    return this.session?.privateMessagesNotForUs() ?? 0;
  }

  /** Whether the room's permissions let our role send chat messages. */
  get mayChat(): boolean {
    return permits(this.roomSettings.permissions.chat, this.role);
  }

  /** Whether the room's permissions let our role record the meeting. */
  get mayRecord(): boolean {
    return permits(this.roomSettings.permissions.recording, this.role);
  }

  /** Whether the room's permissions let our role send files. */
  get mayShareFiles(): boolean {
    return permits(this.roomSettings.permissions.files, this.role);
  }

  /** Whether the room's permissions let our role open polls (everyone may vote). */
  get mayOpenPolls(): boolean {
    return permits(this.roomSettings.permissions.polls, this.role);
  }

  /** Whether the room policy in the group names our key a moderator (who may lower hands). */
  get moderatesGroup(): boolean {
    const me = this.roster.find((m) => m.leaf === this.epoch?.ownLeaf);
    return me !== undefined && (this.epoch?.policy.moderators.includes(me.fingerprint) ?? false);
  }

  /** Whether our hand is up, as the core says. */
  get handRaised(): boolean {
    return this.interactions.handPosition(this.epoch?.ownLeaf) !== null;
  }

  /** Votes others sealed to another poll's creator: our key did not open them. */
  get votesNotForUs(): number {
    return this.session?.votesNotForUs() ?? 0;
  }

  /** Whether the room's permissions let our role share the screen. */
  get mayShareScreen(): boolean {
    return permits(this.roomSettings.permissions.screen_share, this.role);
  }

  /** Our device's key fingerprint (what the lobby shows moderators), once connected. */
  get fingerprint(): string | null {
    return this.session?.fingerprint ?? null;
  }

  /** Connects and joins. Resolves once the server let us in (`null`) or refused the first join;
   *  after a refusal the meeting is over, and the local tracks are left running for the caller. */
  start(): Promise<JoinRefusal | null> {
    const admitted = new Promise<JoinRefusal | null>((resolve) => { this.admission = resolve; });
    this.connect();
    this.timers.push(window.setInterval(() => void this.pollStats(), STATS_INTERVAL_MS));
    this.timers.push(window.setInterval(() => this.selfUpdate(), SELF_UPDATE_INTERVAL_MS));
    window.addEventListener('pagehide', this.onPageHide);
    return admitted;
  }

  /** Whether the meeting is over for good (nothing may reconnect). */
  private get ended(): boolean {
    return this.connection === 'left' || this.connection === 'failed' || this.connection === 'removed';
  }

  // A session abandoned while it cannot say goodbye (no live connection) is ended by the server
  // once its resume window has passed.
  private readonly onPageHide = (): void => {
    // Our recording is finished first: once we are gone the store takes no more of it.
    if (this.recorder.state === 'recording' || this.recorder.state === 'stopping') {
      void this.recorder.stop().finally(() => this.leave());
      return;
    }
    if (this.live) this.sendNow({ type: 'leave' });
  };

  /** Opens a signalling connection: to resume our session if we hold one, else to join. */
  private connect(): void {
    const generation = ++this.socketGeneration;
    this.closeSocket();
    const resume = this.resumable;
    this.connection = this.attempt === 0 ? 'connecting' : 'reconnecting';
    this.onChange();
    const url = new URL('/ws', location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(url);
    this.socket = socket;
    this.resuming = resume !== null;
    this.joining = resume === null;
    let opened = false;
    socket.onopen = () => {
      if (generation !== this.socketGeneration) return;
      opened = true;
      if (resume) {
        this.sendNow({ type: 'resume', participant_id: resume.participantId, resume_token: resume.token, last_seq: this.lastSeq });
        return;
      }
      const key = this.keyForJoin();
      this.joinedWithKey = key !== null;
      const ticket = this.breakoutEntry?.ticket();
      this.sendNow({
        type: 'join', room: this.room, display_name: this.displayName, holds_link: this.linkSecret !== null || ticket !== undefined,
        ...(ticket ? { breakout_of: ticket } : key ? { moderator_key: key } : this.password ? { password: this.password } : {}),
      });
    };
    socket.onmessage = (event) => {
      if (generation !== this.socketGeneration || typeof event.data !== 'string') return;
      const envelope = decodeMessage(event.data);
      if (!envelope) return;
      const { seq, message } = envelope;
      if (this.resuming && this.onResumeAnswer(message, generation)) return;
      if (message.type === 'joined' && this.joining) {
        this.joining = false;
        this.live = true;
      }
      // Read on arrival, not in turn: the PeerConnection waits for them (`peerSetup`).
      if (message.type === 'ice_servers') this.relaysArrived(message.servers);
      // Removals and refusals are handled at once, ahead of anything queued: the server may
      // close the connection right after them, and that close must not pass for a drop to
      // reconnect from.
      if (this.handleNow(message)) return;
      this.enqueue(message.type, () => this.receive(seq, message));
      if (seq !== null && this.replayLeft > 0 && --this.replayLeft === 0) this.caughtUp(generation);
    };
    socket.onclose = () => {
      if (generation !== this.socketGeneration) return;
      if (opened) this.signallingLost('The connection to the server dropped.');
      else void this.notOpened(generation);
    };
  }

  /** The connection closed before it opened. A page is not told why; one reason is ours to
   *  tell the user: the server refuses a sign-in that expired (401) before the upgrade, and
   *  would refuse every retry. */
  private async notOpened(generation: number): Promise<void> {
    const session = await currentSession();
    if (generation !== this.socketGeneration) return;
    if (session.signedIn || !session.expired) {
      this.signallingLost('The connection to the server dropped.');
      return;
    }
    // Rejoining as a guest instead would silently take the user's role away: they choose.
    if (!this.admitted) this.refuse({ code: 'session_expired' });
    else this.fail('Your sign-in expired, so you are signed out now. Rejoin as a guest, or sign in again on the home page.');
  }

  /** The server sends a participant its short-lived TURN relays (an empty list if it has none)
   *  once it is let into the meeting. The first PeerConnection waits for them (a second at
   *  most); one made meanwhile, in the lobby, takes them before its first offer gathers. */
  private relaysArrived(servers: RTCIceServer[]): void {
    this.iceServers = servers;
    this.relaysKnown = true;
    const pc = this.link?.pc;
    if (pc) pc.setConfiguration({ ...pc.getConfiguration(), iceServers: servers });
    this.wakePeerSetup();
  }

  private wakePeerSetup(): void {
    const waiter = this.peerSetupWaiter;
    this.peerSetupWaiter = null;
    waiter?.();
  }

  /** Resolves once this session's TURN relays are known (after a second at most, should they
   *  never come). */
  private peerSetup(): Promise<void> {
    if (this.relaysKnown) return Promise.resolve();
    return new Promise((resolve) => {
      const fallback = window.setTimeout(() => this.wakePeerSetup(), 1000);
      this.peerSetupWaiter = () => {
        window.clearTimeout(fallback);
        resolve();
      };
    });
  }

  /** Queues work on the session's messages: one at a time, in order (SDP handling is
   *  asynchronous); dropped if the session it came from was torn down meanwhile. */
  private enqueue(what: string, work: () => Promise<void> | void): void {
    const session = this.sessionGeneration;
    this.queue = this.queue.then(() => (session === this.sessionGeneration ? work() : undefined)).catch((e: unknown) => {
      this.noteError(`${what}: ${errorText(e)}`);
    });
  }

  /** A message of the session, once: repeats (a replay overlapping what was still queued here
   *  when the old connection dropped) are dropped by their number. */
  private async receive(seq: number | null, message: ServerMessage): Promise<void> {
    if (seq !== null) {
      if (seq <= this.lastSeq) return;
      this.lastSeq = seq;
    }
    await this.handle(message);
  }

  /** The first answer to `resume`: `resumed` (the replay follows), or a refusal. True if it
   *  was one of these. */
  private onResumeAnswer(message: ServerMessage, generation: number): boolean {
    if (message.type === 'resumed') {
      this.resuming = false;
      this.replayLeft = message.replayed;
      this.takenClientSeq = message.last_client_seq ?? 0;
      this.enqueue('resumed', () => {
        if (generation !== this.socketGeneration) return;
        this.connection = 'connected';
        this.connectionDetail = '';
        this.attempt = 0;
        this.droppedAt = null;
        this.resumes++;
        this.onChange();
      });
      if (this.replayLeft === 0) this.caughtUp(generation);
      return true;
    }
    if (message.type !== 'error') return false;
    this.resuming = false;
    if (message.code === 'rate_limited') {
      this.signallingLost('The server is busy; trying again shortly.', Math.max(message.retry_after_ms ?? 1000, 250));
      return true;
    }
    // `resume_failed`: the session is gone (its window passed, a moderator removed us, the
    // server restarted); or a server that does not know `resume`. Join afresh.
    this.resumable = null;
    this.rejoin('Rejoining…', 0);
    return true;
  }

  /** The replay has been handled (queued after it): the session is live again; what the old
   *  connection may have lost goes again (with its numbers: the server takes each once), then
   *  what the page sent meanwhile. */
  private caughtUp(generation: number): void {
    this.enqueue('resume', () => {
      if (generation !== this.socketGeneration) return;
      this.live = true;
      for (const { seq, message } of this.sentLog) {
        if (seq > this.takenClientSeq && this.socket?.readyState === WebSocket.OPEN) this.socket.send(encodeMessage(message, seq));
      }
      for (const message of this.outbox.splice(0)) this.sendNumbered(message);
    });
  }

  /** The moderator key to join with: the host link's on the first join; on a reconnect, the
   *  key we hold, so a moderator comes back as one (past a lock or a lobby a moderator set
   *  meanwhile: clients add a listed moderator to a lobby room's group). */
  private keyForJoin(): string | null {
    if (!this.admitted) return this.hostKey;
    if (this.keyRefused) return null;
    return this.moderatorKey;
  }

  /** The signalling connection dropped (or a resume attempt failed to connect): resume if we
   *  hold a session, keeping everything; otherwise join afresh. */
  private signallingLost(detail: string, retryAfterMs?: number): void {
    if (this.ended) return;
    if (!this.admitted) {
      this.refuse({ code: 'unreachable' });
      return;
    }
    const now = performance.now();
    this.droppedAt ??= now;
    if (!this.resumable || !this.session || now - this.droppedAt > RESUME_PATIENCE_MS) {
      this.resumable = null;
      this.rejoin(detail, retryAfterMs);
      return;
    }
    this.socketGeneration++;
    this.closeSocket();
    // Its answer may have been lost with the connection (an error is not replayed): the
    // dialog gets one now rather than never.
    this.pendingPassword?.done('The connection dropped before the server answered. Check the room settings and try again.');
    this.pendingPassword = null;
    this.connection = 'reconnecting';
    this.connectionDetail = detail;
    this.attempt++;
    const delay = retryAfterMs ?? Math.min(250 * 2 ** (this.attempt - 1), 2000);
    this.onChange();
    this.retryTimer = window.setTimeout(() => this.connect(), delay);
  }

  /** Joins afresh: everything but the local capture is rebuilt. */
  private rejoin(detail: string, retryAfterMs?: number): void {
    if (this.ended) return;
    if (!this.admitted) {
      this.refuse({ code: 'unreachable' });
      return;
    }
    // A session we abandon while its connection still works (the media failed) ends now, not
    // after the server's resume window: its member leaves the group at once.
    if (this.live) this.sendNow({ type: 'leave' });
    this.socketGeneration++;
    this.teardownConnection();
    this.connection = 'reconnecting';
    this.connectionDetail = detail;
    this.attempt++;
    const delay = retryAfterMs ?? Math.min(1000 * 2 ** Math.min(this.attempt - 1, 4), 15000);
    this.onChange();
    this.retryTimer = window.setTimeout(() => this.connect(), delay);
  }

  /** What cannot wait in the queue: a removal, and the answers that end a join attempt. */
  private handleNow(message: ServerMessage): boolean {
    if (message.type === 'removed') {
      this.endRemoved(message.reason);
      return true;
    }
    if (message.type !== 'error') return false;
    switch (message.code) {
      case 'banned':
        // A refused key package: the server closes the connection next.
        this.noteError(`server: ${message.code}: ${message.message}`);
        if (this.admitted) this.endRemoved('banned');
        else this.refuse({ code: 'banned' });
        return true;
      case 'sign_in_required':
        if (!this.admitted) this.refuse({ code: 'sign_in_required' });
        else this.fail('This organisation now lets only signed-in people join, so you could not rejoin as a guest.');
        return true;
      case 'access_denied':
        if (!this.admitted) this.refuse({ code: this.joinedWithKey ? 'host_link_refused' : 'access_denied' });
        else if (this.joinedWithKey && !this.keyRefused) {
          this.keyRefused = true;
          this.rejoin('Rejoining…', 0);
        } else this.fail('The room was locked or its password changed while you were disconnected, so you could not rejoin.');
        return true;
      case 'rate_limited': {
        // On a live session it refused one message of ours (the server closes the connection
        // itself on a flood, and we resume): noted in the queue like any error.
        if (!this.joining) return false;
        const retryAfterMs = Math.max(message.retry_after_ms ?? 1000, 250);
        if (!this.admitted) this.refuse({ code: 'rate_limited', retryAfterMs });
        else this.rejoin('Too many join attempts; trying again shortly.', retryAfterMs);
        return true;
      }
      case 'invalid_room_name':
      case 'invalid_display_name': {
        const detail = message.code === 'invalid_room_name' ? 'This room name is not valid.' : 'This display name is not valid.';
        if (!this.admitted) this.refuse({ code: 'invalid', message: detail });
        else this.fail(detail);
        return true;
      }
      default:
        return false;
    }
  }

  /** The first join was refused: close everything but the local capture and tell `start`'s caller. */
  private refuse(refusal: JoinRefusal): void {
    this.socketGeneration++;
    this.teardownConnection();
    this.stopTimers();
    this.connection = 'failed';
    this.connectionDetail = refusal.code;
    this.admission?.(refusal);
    this.admission = null;
  }

  /** A moderator removed us: stop all media and never reconnect. */
  private endRemoved(reason: RemovalReason): void {
    if (this.connection === 'removed') return;
    this.removedReason = reason;
    this.removedFromLobby = this.inLobby;
    this.socketGeneration++;
    this.teardownConnection();
    this.stopTimers();
    this.stopLocalMedia();
    this.connection = 'removed';
    this.onChange();
  }

  /** Closes the socket in hand, if any, without calling it a drop. */
  private closeSocket(): void {
    if (this.retryTimer !== null) window.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.socket) {
      this.socket.onopen = null;
      this.socket.onclose = null;
      this.socket.onmessage = null;
      if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.close();
    }
    this.socket = null;
    this.live = false;
    this.resuming = false;
    this.joining = false;
    this.replayLeft = 0;
  }

  /** The socket and the session with it: group, PeerConnection, worker, and what the server
   *  told us in that session. */
  private teardownConnection(): void {
    this.closeSocket();
    this.sessionGeneration++;
    this.resumable = null;
    this.blobToken = null;
    this.lastSeq = 0;
    this.sentLog = [];
    this.lastClientSeq = 0;
    this.takenClientSeq = 0;
    this.droppedAt = null;
    this.relaysKnown = false;
    this.peerSetupWaiter = null;
    // What the page sent for the old session: its SDP belonged to the old PeerConnection, and
    // moderation must wait for the new session's role; the user sees the new state and acts again.
    this.outbox = [];
    this.link?.close();
    this.link = null;
    this.clearIceTimer();
    this.session?.dispose();
    this.session = null;
    this.worker?.terminate();
    this.worker = null;
    this.epoch = null;
    this.workerStats = null;
    this.pendingPassword?.done('The connection dropped before the server answered. Try again.');
    this.pendingPassword = null;
    this.remotes.clear();
    this.expectedSenders.clear();
    this.serverParticipants = [];
    this.lobby = [];
    this.lastFrames.clear();
    this.activeSpeaker = null;
    this.offerPending = false;
    this.interactions.clear();
  }

  private async handle(message: ServerMessage): Promise<void> {
    switch (message.type) {
      case 'joined': {
        // Set before the pre-join screen hands over, so the view opens on the lobby screen.
        const waiting = message.group === 'wait_in_lobby' || message.group === 'wait_for_moderator';
        this.lobbyWait = message.group === 'wait_for_moderator' ? 'moderator' : 'admission';
        if (waiting) this.inLobby = true;
        else await this.leaveLobby();
        if (!this.admitted) {
          this.admitted = true;
          this.admission?.(null);
          this.admission = null;
        }
        if (!this.session) await this.onFirstJoined(message);
        else this.forward(message);
        break;
      }
      case 'moderator_key':
        this.moderatorKey = message.key;
        this.keyRefused = false;
        break;
      case 'resume_token':
        if (this.participantId) this.resumable = { participantId: this.participantId, token: message.token };
        this.blobToken = message.blob_token || null;
        break;
      case 'ice_servers':
        break; // taken on arrival (`relaysArrived`)
      case 'sdp_answer':
        await this.link?.acceptAnswer(message.sdp);
        break;
      case 'sdp_offer': {
        // Crossed with our ICE restart: the SFU withdrew it and offers again after its answer.
        if (!this.link || this.link.offering) break;
        const sdp = await this.link.acceptOffer(message.sdp);
        this.sendRaw({ type: 'sdp_answer', sdp });
        break;
      }
      case 'participants': {
        // Only those let in get the list: we are out of the lobby.
        await this.leaveLobby();
        this.serverParticipants = message.participants;
        const me = message.participants.find((p) => p.id === this.participantId);
        this.role = me?.role ?? 'participant';
        this.account = me?.account ?? null;
        this.setMutedByModerator(me?.muted ?? false);
        this.syncRemotes();
        this.forward(message);
        break;
      }
      case 'waiting':
        this.lobbyWait = message.group === 'wait_for_moderator' ? 'moderator' : 'admission';
        this.onChange();
        break;
      case 'lobby': {
        this.lobby = message.waiting;
        const waiting = new Set(message.waiting.map((p) => p.id));
        for (const id of [...this.admitting]) if (!waiting.has(id)) this.admitting.delete(id);
        this.forward(message);
        break;
      }
      case 'room_settings': {
        // Only those let in get the settings: we are out of the lobby.
        await this.leaveLobby();
        const sharing = this.screen !== null && this.mayShareScreen;
        this.roomSettings = {
          locked: message.locked,
          passwordRequired: message.password_required,
          lobby: message.lobby ?? false,
          permissions: { ...DEFAULT_PERMISSIONS, ...message.permissions },
          waitForModerator: message.wait_for_moderator ?? false,
        };
        if (sharing && !this.mayShareScreen) {
          await this.stopScreenShare();
          this.onNotice(`A moderator left screen sharing to ${this.roomSettings.permissions.screen_share === 'members' ? 'signed-in members' : 'moderators'}.`);
        }
        // Our own new password is the one to rejoin with after a drop.
        const pending = this.pendingPassword;
        this.pendingPassword = null;
        if (pending?.password) this.password = pending.password;
        pending?.done(null);
        this.forward(message);
        break;
      }
      case 'error': {
        this.noteError(`server: ${message.code}: ${message.message}`);
        const pending = this.pendingPassword;
        if (pending && (message.code === 'weak_password' || message.code === 'forbidden' || message.code === 'internal')) {
          this.pendingPassword = null;
          pending.done(message.message);
        } else if (message.code === 'forbidden' || message.code === 'unknown_participant' || message.code === 'weak_password' || message.code === 'out_of_order') {
          // A refused screen share (the SFU drops it): stop sending what nobody receives.
          if (message.code === 'forbidden' && this.screen && !this.mayShareScreen) await this.stopScreenShare();
          this.onServerError(message.code, message.message);
        }
        break;
      }
      case 'welcome':
        await this.leaveLobby();
        this.forward(message);
        break;
      default:
        this.forward(message);
    }
    this.onChange();
  }

  /** Hands a server message to the MLS core and sends what it answers. */
  private forward(message: ServerMessage): void {
    if (this.session) this.send(this.session.onMessage(message));
  }

  private async onFirstJoined(joined: ServerMessage & { type: 'joined' }): Promise<void> {
    // This browser's device key (the same fingerprint in every meeting), out of its sealed
    // store only for as long as the MLS core takes to read it.
    const deviceKey = this.breakoutEntry ? null : await deviceSecret();
    this.participantId = joined.participant_id;
    this.attempt = 0;
    this.connection = 'connected';
    this.connectionDetail = '';
    const worker = await startFrameWorker('/e2ee-worker.js');
    worker.onmessage = (event: MessageEvent) => this.onWorkerMessage(event.data);
    worker.onerror = (event) => this.noteError(`e2ee worker: ${event.message}`);
    this.worker = worker;

    this.session = this.breakoutEntry ? this.breakoutEntry.session(this.sessionEvents()) : await this.mainSession(deviceKey);
    // Back after a reload or a fresh join: the core asks for the chat that followed ours.
    const chatGroup = this.chat.group;
    if (chatGroup) this.send(this.session.catchUpChat(chatGroup, this.chat.lastSeq, this.chat.ownIds));
    this.chat.addOwnId(joined.participant_id);
    // From the lobby, no media before we are let in: the SFU would otherwise offer us the
    // room's (encrypted) tracks, and who talks when, while we only knock.
    this.offerPending = true;
    this.forward(joined);
    // Outside the message queue, which goes on meanwhile: nothing in it needs the
    // PeerConnection before our offer is answered (`leaveLobby` offers once it exists).
    this.startMedia(worker).catch((e: unknown) => this.noteError(`media: ${errorText(e)}`));
  }

  /** Our session of the room's group, carrying what the organisation vouches for (a breakout
   *  session carries it over from this one). */
  private async mainSession(deviceKey: Uint8Array | null): Promise<MlsSession> {
    const session = MlsSession.create(this.displayName, this.linkSecret, deviceKey, this.sessionEvents());
    const org = await prepareOrgIdentity(session.devicePublicKey);
    this.warnings.push(...org.problems);
    session.applyOrgIdentity(org);
    return session;
  }

  /** What the MLS core tells the page, and what the page does with it. */
  private sessionEvents(): SessionEvents {
    return {
      epoch: (state, baseKey) => this.onEpoch(state, baseKey),
      removed: () => {
        this.removed = true;
        this.epoch = null;
        this.onChange();
      },
      warning: (text) => {
        this.warnings.push(text);
        this.onChange();
      },
      notice: (change, member) => this.onNotice(`${member.name} ${change === 'joined' ? 'joined' : 'left'} the encrypted meeting (key ${member.fingerprint}).`),
      roomLink: (secret) => this.useRoomLink(secret),
      error: (text) => this.noteError(`mls: ${text}`),
      chat: (entry) => {
        this.chat.received(entry, this.chatVisible);
        this.onChange();
      },
      chatUnreadable: (count) => {
        this.chat.unreadable(count);
        this.onChange();
      },
      hands: (hands) => {
        this.interactions.hands = hands;
        this.onChange();
      },
      reaction: (reaction) => this.onReaction(reaction),
      poll: (poll) => {
        this.interactions.pollChanged(poll, this.pollsVisible);
        this.onChange();
      },
      recordings: (recordings) => {
        this.recordings = recordings;
        this.onChange();
      },
      file: (entry) => {
        this.files.offered(entry);
        if (!this.chatVisible) this.chat.unread++;
      },
      breakouts: (view) => this.breakouts.planChanged(view),
      breakoutNotice: (notice) => this.breakouts.noticed(notice),
    };
  }

  /** Makes the PeerConnection, once this session's TURN relays are known, and offers our
   *  media unless we wait in the lobby. */
  private async startMedia(worker: Worker): Promise<void> {
    const generation = this.sessionGeneration;
    await this.peerSetup();
    if (generation !== this.sessionGeneration) return;
    const link = new MediaLink(worker, { audio: this.local.audio, video: this.cameraOff ? null : this.local.video }, this.iceServers);
    this.link = link;
    link.onRemoteTrack = (remote) => this.onRemoteTrack(remote);
    link.onRemoteTrackGone = (remote) => this.onRemoteTrackGone(remote);
    link.onIceStateChange = (ice) => {
      if (generation === this.sessionGeneration && link === this.link) this.iceStateChanged(ice);
    };
    // DTLS failing over a working path is not for an ICE restart: join afresh.
    link.onStateChange = (state) => {
      if (generation === this.sessionGeneration && state === 'failed' && link.iceWorking) this.rejoin('Media connection failed.');
    };
    if (this.screen) await link.replace('screen', this.screen);
    if (generation === this.sessionGeneration && !this.inLobby) await this.sendOffer();
  }

  /** The media path broke (the network changed or went away): still without one after
   *  ICE_RESTART_DELAY_MS, ICE restarts — new credentials and candidates in one offer, while
   *  the SFU keeps our tracks, subscriptions and DTLS. After MAX_ICE_RESTARTS without a path,
   *  we join afresh. */
  private iceStateChanged(ice: RTCIceConnectionState): void {
    if (ice === 'connected' || ice === 'completed') {
      this.iceRestartsInARow = 0;
      this.clearIceTimer();
    } else if ((ice === 'disconnected' || ice === 'failed') && this.iceTimer === null) {
      this.iceTimer = window.setTimeout(() => void this.restartIce(), ice === 'failed' ? 0 : ICE_RESTART_DELAY_MS);
    }
  }

  private async restartIce(): Promise<void> {
    this.iceTimer = null;
    const link = this.link;
    if (!link || link.iceWorking || this.ended || this.inLobby) return;
    if (link.offering) {
      // The last restart's answer has not come (the signalling is away too): it goes out with
      // the resume, and a second offer now would cross it.
      this.iceTimer = window.setTimeout(() => void this.restartIce(), ICE_RESTART_RETRY_MS);
      return;
    }
    if (this.iceRestartsInARow >= MAX_ICE_RESTARTS) {
      this.rejoin('Media connection failed.');
      return;
    }
    this.iceRestartsInARow++;
    this.iceRestarts++;
    const offer = await link.createOffer(true);
    if (link !== this.link) return;
    this.sendRaw({ type: 'sdp_offer', sdp: offer });
    // A restart whose checks fail too (the network is still away) is followed by another.
    this.iceTimer = window.setTimeout(() => void this.restartIce(), ICE_RESTART_RETRY_MS);
  }

  private clearIceTimer(): void {
    if (this.iceTimer !== null) window.clearTimeout(this.iceTimer);
    this.iceTimer = null;
  }

  private async sendOffer(): Promise<void> {
    const link = this.link;
    if (!link || !this.offerPending) return;
    this.offerPending = false;
    const offer = await link.createOffer();
    if (link === this.link) this.sendRaw({ type: 'sdp_offer', sdp: offer });
  }

  /** The server let us in from the lobby (settings, the participant list or a Welcome came). */
  private async leaveLobby(): Promise<void> {
    if (!this.inLobby) return;
    this.inLobby = false;
    this.onChange();
    await this.sendOffer();
  }

  /** The server's word on a moderator's mute of us: a new mute silences the microphone here too,
   *  so the button shows what the others hear. */
  private setMutedByModerator(muted: boolean): void {
    if (muted && !this.mutedByModerator) {
      this.micMuted = true;
      if (this.local.audio) this.local.audio.enabled = false;
      this.onNotice('A moderator muted you. Unmute when you want to speak.');
    }
    this.mutedByModerator = muted;
  }

  private onEpoch(state: EpochState, baseKey: Uint8Array): void {
    this.epoch = state;
    this.chat.enterGroup(state.groupId);
    this.removed = false;
    this.pairAllWithRoster();
    // Transferred, not copied: the page keeps no copy of the key.
    const fresh = state.change === null;
    this.worker?.postMessage({ type: 'epoch', epoch: state.epoch, baseKey, ownLeaf: state.ownLeaf, fresh }, [baseKey.buffer]);
    this.onChange();
  }

  private onWorkerMessage(data: unknown): void {
    if (typeof data !== 'object' || data === null) return;
    const message = data as { type?: string; where?: string; message?: string } & Partial<WorkerStats>;
    if (message.type === 'stats') {
      this.workerStats = message as WorkerStats;
      this.onChange();
    } else if (message.type === 'error' && message.where === 'epoch') {
      // The worker emptied its keyring: our media stops until the next epoch installs.
      this.warnings.push(`This device could not install the new media keys (${message.message ?? 'unknown error'}): it sends nothing until the next key change.`);
      this.onChange();
    }
  }

  private onRemoteTrack(remote: RemoteTrack): void {
    const participant = this.remoteFor(remote.participantId);
    participant.tracks[remote.role] = { mid: remote.mid, track: remote.track };
    this.pairWithRoster(participant);
    this.onChange();
  }

  private onRemoteTrackGone(remote: RemoteTrack): void {
    const participant = this.remotes.get(remote.participantId);
    if (participant && participant.tracks[remote.role]?.mid === remote.mid) delete participant.tracks[remote.role];
    this.expectSender(remote.mid, null);
    this.onChange();
  }

  private remoteFor(id: string): RemoteParticipant {
    let participant = this.remotes.get(id);
    if (!participant) {
      participant = { id, name: 'Someone', fingerprint: null, member: null, tracks: {}, cameraLive: false, screenLive: false, audioLevel: 0 };
      this.remotes.set(id, participant);
    }
    return participant;
  }

  /** The server's list says who is connected; tiles follow it. */
  private syncRemotes(): void {
    const present = new Set<string>();
    for (const p of this.serverParticipants) {
      if (p.id === this.participantId) continue;
      present.add(p.id);
      this.remoteFor(p.id);
    }
    for (const id of [...this.remotes.keys()]) if (!present.has(id)) this.remotes.delete(id);
    this.pairAllWithRoster();
  }

  private pairAllWithRoster(): void {
    for (const remote of this.remotes.values()) this.pairWithRoster(remote);
  }

  /** Pairs a participant, by the key fingerprint the server lists for it, with a member of the
   *  MLS roster: its tile shows that member's name, and its tracks that member's frames alone. */
  private pairWithRoster(remote: RemoteParticipant): void {
    const listed = this.serverParticipants.find((p) => p.id === remote.id);
    remote.fingerprint = listed?.fingerprint ?? null;
    remote.member = this.roster.find((m) => m.fingerprint === remote.fingerprint) ?? null;
    remote.name = remote.member?.name ?? listed?.display_name ?? 'Someone';
    for (const track of Object.values(remote.tracks)) if (track) this.expectSender(track.mid, remote.member?.leaf ?? null);
  }

  /** Tells the worker whose frames the receive transform of `mid` may show (none: `null`). */
  private expectSender(mid: string, leaf: number | null): void {
    if (this.expectedSenders.get(mid) === leaf) return;
    this.expectedSenders.set(mid, leaf);
    this.worker?.postMessage({ type: 'expect', label: `recv-${mid}`, leaf });
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
    // Unmuting lifts a moderator's mute: the server lets our audio through again.
    if (!muted && this.mutedByModerator) this.sendRaw({ type: 'unmute' });
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

  /** Sends a chat message to everyone, or privately to `to` alone; the reason if it cannot be
   *  sent. */
  sendChat(text: string, to: RosterMember | null): string | null {
    if (!this.session?.joined) return 'Not in the encrypted meeting yet.';
    try {
      this.send(this.session.sendChat(text, to?.leaf ?? null));
    } catch (e) {
      return errorText(e);
    }
    this.chat.sent(this.displayName, text, to?.name ?? null, Date.now());
    this.onChange();
    return null;
  }

  /** Encrypts and uploads `file`, then offers it to the group; the transfer shows how it went. */
  sendFile(file: File): void {
    void this.files.send(file, this.displayName, (uploaded) => {
      if (!this.session?.joined) throw new Error('Not in the encrypted meeting any more: the file was not offered.');
      this.send(this.session.sendFileOffer(uploaded));
    });
  }

  /** Who is in our recording: us (camera and microphone) and everyone whose media we receive. */
  private recordedSources(): RecordedSource[] {
    const own = { key: 'self', name: this.displayName, video: this.cameraOff ? null : this.local.video, audio: this.local.audio };
    const others = [...this.remotes.values()].map((p) => ({
      key: p.id, name: p.name, video: p.tracks.screen?.track ?? p.tracks.camera?.track ?? null, audio: p.tracks.audio?.track ?? null,
    }));
    return [own, ...others];
  }

  // --- raised hands, reactions and polls: each returns the reason it was refused, or null ---

  raiseHand(raised: boolean): string | null {
    return this.interact((session) => session.raiseHand(raised));
  }

  /** A moderator of the room policy lowers someone's hand (the core refuses anyone else). */
  lowerHand(leaf: number): string | null {
    return this.interact((session) => session.lowerHand(leaf));
  }

  react(emoji: string): string | null {
    return this.interact((session) => session.react(emoji));
  }

  /** The server refuses it if the room's permissions leave our role out (`mayOpenPolls`). */
  openPoll(poll: PollDraft): string | null {
    return this.interact((session) => session.openPoll(poll));
  }

  vote(poll: PollView, choices: number[]): string | null {
    return this.interact((session) => session.vote(poll.creator, poll.id, choices));
  }

  closePoll(id: number): string | null {
    return this.interact((session) => session.closePoll(id));
  }

  // --- breakout rooms ---

  /** Our meeting in breakout room `index` of the open plan: our name, camera and microphone,
   *  the room's link through our core, our session here as the ticket. */
  private breakoutMeeting(index: number): Meeting {
    const room = this.breakouts.plan?.rooms[index];
    if (!room || !this.session) throw new Error('no such breakout room');
    const main = this.session;
    const meeting = new Meeting(room.room, this.displayName, this.local, null, null, null, {
      ticket: () => this.resumable && { room: this.room, participant_id: this.resumable.participantId, resume_token: this.resumable.token },
      session: (events) => main.breakoutSession(index, events),
    });
    meeting.micMuted = this.micMuted;
    meeting.cameraOff = this.cameraOff;
    return meeting;
  }

  /** Our camera and microphone leave the main room while we are in a breakout room (`from`
   *  null), and come back as `from` left them. */
  private async pauseMedia(from: RoomMeeting | null): Promise<void> {
    if (this.screen) await this.stopScreenShare();
    if (from) {
      this.micMuted = from.micMuted;
      this.cameraOff = from.cameraOff;
    }
    await this.link?.replace('audio', from ? this.local.audio : null);
    await this.link?.replace('camera', from && !this.cameraOff ? this.local.video : null);
    this.onChange();
  }

  /** Hands the core an action of our user and sends what it answers. */
  private interact(act: (session: MlsSession) => ClientMessage[]): string | null {
    if (!this.session?.joined) return 'Not in the encrypted meeting yet.';
    try {
      this.send(act(this.session));
    } catch (e) {
      return errorText(e);
    }
    this.onChange();
    return null;
  }

  // --- moderation (the server checks the role; these only send) ---

  setLocked(locked: boolean): void {
    this.sendRaw(locked ? { type: 'lock' } : { type: 'unlock' });
  }

  /** Sets (or with `null` removes) the room's password. Resolves with the server's refusal
   *  (e.g. a weak password), or `null` once the new settings arrived. */
  setRoomPassword(password: string | null): Promise<string | null> {
    if (!this.live || this.socket?.readyState !== WebSocket.OPEN) {
      return Promise.resolve('Not connected to the server right now. Try again in a moment.');
    }
    this.pendingPassword?.done('Superseded by a newer request.');
    return new Promise((resolve) => {
      this.pendingPassword = { password, done: resolve };
      this.sendRaw({ type: 'set_password', password });
    });
  }

  kick(participantId: string): void {
    this.sendRaw({ type: 'kick', participant_id: participantId });
  }

  ban(participantId: string): void {
    this.sendRaw({ type: 'ban', participant_id: participantId });
  }

  grantModerator(participantId: string): void {
    this.sendRaw({ type: 'grant_moderator', participant_id: participantId });
  }

  /** A new room link (our core made it founding the group, or a moderator replaced it): the
   *  address bar (and so "Copy meeting link") carries it from now on, and a rejoin proves it. */
  private useRoomLink(secret: string): void {
    if (this.linkSecret !== null) this.onNotice('A moderator made a new room link: copy the meeting link again to invite someone.');
    this.linkSecret = secret;
    history.replaceState(history.state, '', `${location.pathname}${location.search}#k=${secret}`);
    this.onChange();
  }

  /** Replaces the room link, so the old one lets nobody in without a moderator; false if our
   *  key does not moderate the encrypted group. */
  rotateLink(): boolean {
    const sent = this.session?.rotateLink();
    if (!sent) return false;
    this.send(sent);
    return true;
  }

  /** The core tells the server, and commits the change to a room link group's policy if we
   *  moderate it. */
  setLobby(enabled: boolean): void {
    if (this.session) this.send(this.session.setLobby(enabled));
    else this.sendRaw({ type: 'set_lobby', enabled });
  }

  /** Lets a participant in from the lobby. Its device key (from the lobby list) is recorded
   *  first: the server then asks our client to add it, and we add no device we did not admit.
   *  False if its key has not arrived yet. */
  admit(participantId: string): boolean {
    const sent = this.session?.admit(participantId);
    if (!sent) return false;
    this.admitting.add(participantId);
    this.send(sent);
    this.onChange();
    return true;
  }

  deny(participantId: string): void {
    this.sendRaw({ type: 'deny', participant_id: participantId });
  }

  mute(participantId: string): void {
    this.sendRaw({ type: 'mute', participant_id: participantId });
  }

  /** Nobody joins while no moderator is in the meeting, and nobody inherits moderation when
   *  the last moderator leaves (a host link brings one back). */
  setWaitForModerator(enabled: boolean): void {
    this.sendRaw({ type: 'set_wait_for_moderator', enabled });
  }

  setPermissions(permissions: Permissions): void {
    this.sendRaw({ type: 'set_permissions', permissions });
  }

  /** Ends the meeting for everyone; the server removes us too (`meeting_ended`). */
  endMeeting(): void {
    this.endedByUs = true;
    this.sendRaw({ type: 'end_meeting' });
  }

  selfUpdate(): void {
    if (this.session && this.connection === 'connected') this.send(this.session.selfUpdate());
  }

  /** Leaves for good. While the connection is down there is nobody to say goodbye to: the
   *  server ends the session when its resume window has passed. */
  leave(): void {
    if (this.live) this.sendNow({ type: 'leave' });
    this.socketGeneration++;
    this.teardownConnection();
    this.stopTimers();
    this.stopLocalMedia();
    this.files.clear();
    this.recordingLibrary.clear();
    this.connection = 'left';
    this.onChange();
  }

  private stopTimers(): void {
    for (const timer of this.timers) window.clearInterval(timer);
    this.timers = [];
    window.removeEventListener('pagehide', this.onPageHide);
  }

  private stopLocalMedia(): void {
    // A breakout room's camera and microphone are the main room's, which keeps them.
    if (!this.breakoutEntry) {
      this.local.audio?.stop();
      this.local.video?.stop();
    }
    this.screen?.stop();
    this.screen = null;
  }

  /** The PeerConnection, for diagnostics and tests. */
  get peerConnection(): RTCPeerConnection | null {
    return this.link?.pc ?? null;
  }

  private fail(detail: string): void {
    this.socketGeneration++;
    this.teardownConnection();
    this.connection = 'failed';
    this.connectionDetail = detail;
    this.onChange();
  }

  private send(messages: ClientMessage[]): void {
    for (const message of messages) this.sendRaw(message);
  }

  /** Sends a message of the session: at once while it is live; while it is away (dropped,
   *  resuming, replaying), once it is caught up. Dropped if there is no session to carry it
   *  (before `joined`; a fresh join rebuilds from the server's state). */
  private sendRaw(message: ClientMessage): void {
    if (this.live && this.socket?.readyState === WebSocket.OPEN) {
      this.sendNumbered(message);
    } else if (this.resumable && !this.ended) {
      if (this.outbox.length < MAX_OUTBOX) this.outbox.push(message);
      else this.noteError(`not sent while disconnected: ${message.type}`);
    }
  }

  /** Numbers a message of the session, keeps it for a resume, and writes it. */
  private sendNumbered(message: ClientMessage): void {
    const seq = ++this.lastClientSeq;
    this.sentLog.push({ seq, message });
    if (this.sentLog.length > MAX_OUTBOX) this.sentLog.shift();
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(encodeMessage(message, seq));
  }

  /** Writes to the socket in hand, whatever the session's state. */
  private sendNow(message: ClientMessage): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(encodeMessage(message));
  }

  private noteError(text: string): void {
    console.warn('sealroom:', text);
    this.errors.push(text);
    if (this.errors.length > 50) this.errors.shift();
    this.onChange();
  }
}
