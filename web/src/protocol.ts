// The signalling messages of `sealroom-protocol` (JSON text frames over /ws, `"v": 1`), as the
// browser sends and receives them. MLS messages travel as base64 of their wire encoding.

export const PROTOCOL_VERSION = 1;

/** `wait_in_lobby`: upload a key package and wait for a moderator to admit us (a Welcome, or
 *  `removed`). `wait_for_moderator`: the same, while no moderator is in the meeting yet. */
export type GroupAction = 'create_group' | 'await_welcome' | 'wait_in_lobby' | 'wait_for_moderator';
export type ErrorCode =
  | 'unsupported_version' | 'malformed' | 'too_large' | 'out_of_order' | 'invalid_room_name'
  | 'invalid_display_name' | 'wrong_epoch' | 'invalid_mls_message' | 'invalid_sdp'
  | 'rate_limited' | 'access_denied' | 'banned' | 'sign_in_required' | 'forbidden' | 'unknown_participant'
  | 'weak_password' | 'resume_failed' | 'internal';

/** What a participant may do in a room (assigned by the server only): a `guest` joined
 *  without signing in, a `participant` signed in to an account of the server. */
export type Role = 'moderator' | 'participant' | 'guest';
/** Why the server removed a participant: a moderator's kick or ban, a denial from the lobby,
 *  or the meeting ended for everyone. */
export type RemovalReason = 'kicked' | 'banned' | 'denied' | 'meeting_ended';
/** Which roles may do something: `members` are moderators and signed-in participants. */
export type Allowed = 'everyone' | 'members' | 'moderators';
/** What each role may do in a room (the server enforces each). `polls`: who may open a poll
 *  (everyone may vote, raise a hand and react). */
export interface Permissions { screen_share: Allowed; chat: Allowed; files: Allowed; recording: Allowed; polls: Allowed }
export const DEFAULT_PERMISSIONS: Permissions = { screen_share: 'everyone', chat: 'everyone', files: 'everyone', recording: 'everyone', polls: 'everyone' };

/** Whether `allowed` lets `role` do it: the server's rule (`Allowed::permits`). */
export function permits(allowed: Allowed, role: Role): boolean {
  switch (allowed) {
    case 'everyone': return true;
    case 'members': return role !== 'guest';
    case 'moderators': return role === 'moderator';
  }
}

/** What an application message carries, bound to it as MLS authenticated data: in the clear
 *  for the server to enforce the room's permissions, authenticated for the receivers. */
export type ApplicationKind = 'control' | 'chat' | 'file' | 'recording' | 'interaction' | 'poll' | 'breakout';
const APPLICATION_LABEL_PREFIX = 'sealroom/';

export function applicationLabel(kind: ApplicationKind): Uint8Array {
  return new TextEncoder().encode(APPLICATION_LABEL_PREFIX + kind);
}

/** The kind an authenticated-data label marks, or null for anything else. */
export function applicationKind(label: Uint8Array): ApplicationKind | null {
  const text = new TextDecoder().decode(label);
  const kinds: ApplicationKind[] = ['control', 'chat', 'file', 'recording', 'interaction', 'poll', 'breakout'];
  return kinds.find((kind) => APPLICATION_LABEL_PREFIX + kind === text) ?? null;
}

export type ClientMessage =
  /** `password` is left out when the room has none, `moderator_key` unless we join from a host
   *  link; a join with either never creates a room. `holds_link`: we came with the room link
   *  (without it, once the room's group exists, we wait for a moderator's admission). */
  | { type: 'join'; room: string; display_name: string; password?: string; moderator_key?: string; holds_link?: boolean; breakout_of?: BreakoutTicket }
  | { type: 'group_created'; group_info: string }
  | { type: 'key_package'; key_package: string }
  | { type: 'commit'; epoch: number; commit: string; welcome: string | null }
  | { type: 'application'; message: string }
  /** Members: the room's kept chat numbered after `after` (the core asks, after a reload). */
  | { type: 'history'; after: number }
  | { type: 'sdp_offer'; sdp: string }
  | { type: 'sdp_answer'; sdp: string }
  | { type: 'leave' }
  // Moderators only; anyone else gets `forbidden`.
  | { type: 'set_password'; password: string | null }
  | { type: 'lock' }
  | { type: 'unlock' }
  | { type: 'kick'; participant_id: string }
  | { type: 'ban'; participant_id: string }
  | { type: 'grant_moderator'; participant_id: string }
  | { type: 'set_lobby'; enabled: boolean }
  | { type: 'admit'; participant_id: string }
  | { type: 'deny'; participant_id: string }
  | { type: 'mute'; participant_id: string }
  | { type: 'set_permissions'; permissions: Permissions }
  | { type: 'end_meeting' }
  | { type: 'set_wait_for_moderator'; enabled: boolean }
  /** The breakout rooms' names, which only this room's participants enter (the MLS core sends
   *  these two with its plan and its call back). */
  | { type: 'open_breakouts'; rooms: string[] }
  | { type: 'close_breakouts' }
  // Anyone: lifts a moderator's mute of ourselves.
  | { type: 'unmute' }
  /** Instead of `join`, as a new connection's first message: take up our session of a
   *  connection that dropped (same participant, same MLS leaf, same PeerConnection), and get
   *  every message numbered after `last_seq` again. */
  | { type: 'resume'; participant_id: string; resume_token: string; last_seq: number };

/** Entering a breakout room: our session in the room that opened it, which proves we are there. */
export interface BreakoutTicket { room: string; participant_id: string; resume_token: string }

/** `role` is absent from older servers' lists: it then means `participant`. `muted`: a
 *  moderator muted it (the SFU drops its audio until it unmutes itself). `account`: the
 *  account it signed in with, as the server vouches (absent for a guest). */
export interface ParticipantInfo { id: string; display_name: string; role?: Role; fingerprint?: string; muted?: boolean; account?: string }

/** A TURN relay, as `RTCIceServer` takes it (credentials of the TURN REST API that expire). */
export interface IceServer { urls: string[]; username: string; credential: string }

export type ServerMessage =
  | { type: 'joined'; participant_id: string; external_sender: string; group: GroupAction }
  /** Right after `joined`: the secret that resumes this session from a new connection, and
   *  the bearer token of this participant's end-to-end encrypted files (`/api/blobs`). From
   *  `joined` on, every message of the session carries a `seq` in its envelope. */
  | { type: 'resume_token'; token: string; blob_token?: string }
  /** Right after `resume_token`: TURN relays for where the direct path to the SFU fails (empty
   *  if the server has none). */
  | { type: 'ice_servers'; servers: IceServer[] }
  /** A resume was accepted: `replayed` numbered messages the old connection missed follow. */
  | { type: 'resumed'; replayed: number; last_client_seq?: number }
  | { type: 'welcome'; welcome: string }
  | { type: 'commit'; commit: string; epoch: number }
  | { type: 'commit_accepted'; epoch: number }
  | { type: 'commit_rejected'; epoch: number; code: ErrorCode }
  | { type: 'proposal'; proposal: string }
  | { type: 'commit_requested'; key_packages: string[] }
  /** `number`: the room's number for it (not the envelope's `seq`). */
  | { type: 'application'; message: string; number: number }
  /** The room's kept chat, still encrypted, for the core to decrypt what it can. */
  | { type: 'history'; messages: { number: number; from: string; message: string }[]; more: boolean }
  | { type: 'sdp_answer'; sdp: string }
  | { type: 'sdp_offer'; sdp: string }
  | { type: 'participants'; participants: ParticipantInfo[] }
  /** `lobby`, `permissions` and `wait_for_moderator` are absent from older servers' settings. */
  | { type: 'room_settings'; locked: boolean; password_required: boolean; lobby?: boolean; permissions?: Permissions; wait_for_moderator?: boolean }
  /** To moderators: the room's moderator key (128 bits, hex); a join carrying it enters as a
   *  moderator, past the lock, the password and the lobby. */
  | { type: 'moderator_key'; key: string }
  /** To moderators: who waits in the lobby, with each device's key fingerprint once known. */
  | { type: 'lobby'; waiting: ParticipantInfo[] }
  /** To someone waiting: what it waits for now (a moderator arrived in a room with a lobby, or
   *  the last one left a room where nobody joins before a moderator). */
  | { type: 'waiting'; group: 'wait_in_lobby' | 'wait_for_moderator' }
  /** The server removed us (see `RemovalReason`); it closes the connection right after. */
  | { type: 'removed'; reason: RemovalReason }
  /** `retry_after_ms` comes with `rate_limited`. */
  | { type: 'error'; code: ErrorCode; message: string; retry_after_ms?: number };

/** A client frame; `seq` numbers the messages of our session, so that after a resume we can
 *  send again what the server did not take (it says which it took last in `resumed`). */
export function encodeMessage(message: ClientMessage, seq: number | null = null): string {
  return JSON.stringify(seq === null ? { v: PROTOCOL_VERSION, ...message } : { v: PROTOCOL_VERSION, seq, ...message });
}

/** A server frame: the message, and its number in our session (`seq` in the envelope) if it
 *  is part of it; direct answers on one connection (errors, `resumed`) carry none. */
export interface Envelope { seq: number | null; message: ServerMessage }

/** Parses a server frame; `null` for anything that is not a message of our version. */
export function decodeMessage(text: string): Envelope | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const record = value as { v?: unknown; type?: unknown; seq?: unknown };
  if (record.v !== PROTOCOL_VERSION || typeof record.type !== 'string') return null;
  const seq = typeof record.seq === 'number' && Number.isSafeInteger(record.seq) && record.seq > 0 ? record.seq : null;
  return { seq, message: value as ServerMessage };
}

export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

export function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** base64url without padding (RFC 4648 §5), as the server's APIs write keys and proofs. */
export function fromBase64Url(text: string): Uint8Array {
  return fromBase64(text.replace(/-/g, '+').replace(/_/g, '/'));
}

export function toBase64Url(bytes: Uint8Array): string {
  return toBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Room names as the server accepts them: 1-64 bytes of a-z, 0-9 and '-'. */
export function isValidRoomName(name: string): boolean {
  return /^[a-z0-9-]{1,64}$/.test(name);
}

/** A moderator key as the server hands it out: 128 bits in lower-case hex. */
export function isModeratorKey(text: string): boolean {
  return /^[0-9a-f]{32}$/.test(text);
}

/** Display names: 1-64 characters, no control characters. */
export function isValidDisplayName(name: string): boolean {
  const chars = [...name];
  return chars.length >= 1 && chars.length <= 64 && !/\p{Cc}/u.test(name) && name.trim().length > 0;
}

/** The room link's secret in a URL fragment (without its `#`): `k=` and 22 characters of
 *  base64url (128 bits), among `&`-separated parts; null if there is none. */
export function linkSecretIn(fragment: string): string | null {
  const secret = fragment.split('&').find((part) => part.startsWith('k='))?.slice(2);
  return secret !== undefined && /^[A-Za-z0-9_-]{22}$/.test(secret) ? secret : null;
}
