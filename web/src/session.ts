// The page's binding to the meeting's MLS core: `Participant` from sealroom-wasm, the same
// sans-IO state machine the native client runs (crates/sealroom-participant). Every server
// message goes in; what comes out is handed to the meeting — messages to send, epochs, notices,
// warnings. No MLS rule lives in TypeScript.

import {
  type ActiveRecording, type BreakoutView, type ChatEntry, type EpochChange, type FileEntry, Participant, type PollView, type RaisedHand, type Reaction, type RoomPolicy, type RosterMember,
} from 'sealroom-wasm';
import type { UploadedFile } from './files';
import { type OrgSetup, pinOrganisationKey } from './org-identity';
import { type ClientMessage, type ServerMessage, PROTOCOL_VERSION } from './protocol';

export type { ActiveRecording, BreakoutView, PollView, RaisedHand, Reaction };

/** A poll as our user drafted it, for the core to open. */
export interface PollDraft { question: string; options: string[]; multiple: boolean; anonymous: boolean; resultsFor: 'everyone' | 'moderators' }

/** An epoch as the page shows it. Its media key is not kept here: it goes to the worker. */
export interface EpochState {
  epoch: bigint;
  /** The group's id: a room that emptied and filled again has a new group. */
  groupId: Uint8Array;
  ownLeaf: number;
  roster: RosterMember[];
  code: { digits: string; words: string[] };
  change: EpochChange | null;
  /** Who moderates, and whether there is a lobby: the group's word, not the server's. */
  policy: RoomPolicy;
}

export interface SessionEvents {
  /** A new epoch; `baseKey` is for the frame worker alone (transfer it, keep no copy). */
  epoch(state: EpochState, baseKey: Uint8Array): void;
  removed(): void;
  /** A member joined or left the encrypted group. */
  notice(change: 'joined' | 'left', member: RosterMember): void;
  /** The room link is new: we made it founding the group without one, or a moderator replaced
   *  it. */
  roomLink(secret: string): void;
  warning(text: string): void;
  error(text: string): void;
  /** A member's chat message, decrypted, to everyone or to us alone. */
  chat(entry: ChatEntry): void;
  /** Messages of the room's history we cannot decrypt (sent before we joined). */
  chatUnreadable(count: number): void;
  /** The raised hands in the order they went up (ours too), whenever that changes. */
  hands(hands: RaisedHand[]): void;
  /** A member's reaction (ours too). */
  reaction(reaction: Reaction): void;
  /** One poll's whole state, whenever it changes. */
  poll(poll: PollView): void;
  /** A member offered a file (its key and hash inside, end-to-end encrypted). */
  file(entry: FileEntry): void;
  /** The recordings under way (ours too), whole, whenever that changes. */
  recordings(recordings: ActiveRecording[]): void;
  /** The breakout rooms a moderator opened (null: none, or closed). */
  breakouts(view: BreakoutView | null): void;
  /** A moderator's word to every breakout room, or (to moderators) a member's call for help. */
  breakoutNotice(notice: BreakoutNotice): void;
}

export type BreakoutNotice = { kind: 'broadcast'; from: string; text: string } | { kind: 'help'; from: string; room: string };

/** Breakout rooms as a moderator sets them up: room `i` is `labels[i]`, the server's room
 *  `names[i]`; the member at `leaves[j]` goes to room `rooms[j]`; `endsAt` in ms, if set. */
export interface BreakoutDraft { labels: string[]; names: string[]; leaves: number[]; rooms: number[]; choose: boolean; endsAt: number | null }

export class MlsSession {
  private constructor(private readonly participant: Participant, private readonly events: SessionEvents) {}

  /** `linkSecret`: the room link's secret we came with (null: we typed the room's name).
   *  `deviceKey`: this browser's kept device key (null: a new one for this join); zeroed here
   *  once the core holds it. */
  static create(displayName: string, linkSecret: string | null, deviceKey: Uint8Array | null, events: SessionEvents): MlsSession {
    try {
      return new MlsSession(new Participant(displayName, linkSecret ?? undefined, deviceKey ?? undefined), events);
    } finally {
      deviceKey?.fill(0);
    }
  }

  /** Our session for breakout room `room` of the open plan: our device key, that room's link,
   *  and our group's moderators for its policy (the core's `breakoutParticipant`). */
  breakoutSession(room: number, events: SessionEvents): MlsSession {
    return new MlsSession(this.participant.breakoutParticipant(room), events);
  }

  // Breakout rooms: each throws (with the core's reason) if refused.

  openBreakouts(draft: BreakoutDraft): ClientMessage[] {
    this.participant.openBreakouts(draft.labels, draft.names, Uint32Array.from(draft.leaves), Uint8Array.from(draft.rooms), draft.choose, draft.endsAt ?? undefined);
    return this.drain();
  }

  broadcastToBreakouts(text: string): ClientMessage[] {
    this.participant.broadcastToBreakouts(text);
    return this.drain();
  }

  closeBreakouts(): ClientMessage[] {
    this.participant.closeBreakouts();
    return this.drain();
  }

  askForHelp(room: number): ClientMessage[] {
    this.participant.askForHelp(room);
    return this.drain();
  }

  /** Our device's MLS signature public key, for the organisation's binding. */
  get devicePublicKey(): Uint8Array {
    return this.participant.devicePublicKey();
  }

  /** Gives the core our binding and the organisation keys to check members with; before
   *  joining. What the core refuses is a warning: the roster then names no account. */
  applyOrgIdentity(setup: OrgSetup): void {
    try {
      if (setup.binding) this.participant.setOrgBinding(setup.binding);
      if (setup.presented) this.participant.handleOrganisationKey(setup.pinned ?? undefined, setup.presented);
    } catch (e) {
      this.events.warning(`Organisation identity: ${errorText(e)}`);
    }
    this.participant.handleTime(Date.now() / 1000);
  }

  /** Our device's key fingerprint: the one the lobby shows moderators. */
  get fingerprint(): string {
    return this.participant.fingerprint();
  }

  get joined(): boolean {
    return this.participant.isMember();
  }

  /** The name last seen at a leaf, for stats of members who left. */
  nameAtLeaf(leaf: number): string | undefined {
    return this.participant.nameAtLeaf(leaf);
  }

  /** Members of the encrypted group whom the server does not list. */
  unlistedMembers(): RosterMember[] {
    return this.participant.unlistedMembers();
  }

  /** Hands a server message to the core; returns what to send back. */
  onMessage(message: ServerMessage): ClientMessage[] {
    // Bindings expire: each epoch's roster is checked against the time now.
    this.participant.handleTime(Date.now() / 1000);
    try {
      this.participant.handleMessage(JSON.stringify({ v: PROTOCOL_VERSION, ...message }));
    } catch (e) {
      this.events.error(`${message.type}: ${errorText(e)}`);
    }
    return this.drain();
  }

  /** Our user admits a participant from the lobby; false if its device key has not arrived. */
  admit(participantId: string): ClientMessage[] | null {
    try {
      this.participant.admit(participantId);
    } catch {
      return null;
    }
    return this.drain();
  }

  /** Our user turns the lobby on or off: the server is told, and the group's policy follows
   *  by our commit if we moderate the room link's group. */
  setLobby(enabled: boolean): ClientMessage[] {
    this.participant.setLobby(enabled);
    return this.drain();
  }

  /** Our user, a moderator, replaces the room link; null if our key does not moderate the
   *  group. The new link arrives as a `roomLink` event once the commit lands. */
  rotateLink(): ClientMessage[] | null {
    try {
      this.participant.rotateLink();
    } catch {
      return null;
    }
    return this.drain();
  }

  /** Sends a chat message to everyone, or sealed to the member at leaf `to`; throws (with the
   *  core's reason) if it cannot be sent. */
  sendChat(text: string, to: number | null): ClientMessage[] {
    this.participant.sendChat(text, to ?? undefined, Date.now());
    return this.drain();
  }

  /** We came back holding the chat of `groupId` up to `after`, sent as `ownIds`: once a
   *  member of that group, the core asks the server for the rest. */
  catchUpChat(groupId: Uint8Array, after: number, ownIds: string[]): ClientMessage[] {
    this.participant.catchUpChat(groupId, after, ownIds);
    return this.drain();
  }

  /** Private messages other members sealed to someone else (our key could not open them). */
  privateMessagesNotForUs(): number {
    return this.participant.privateMessagesNotForUs();
  }

  /** Offers the group a file whose ciphertext is uploaded; throws (with the core's reason) if
   *  refused. */
  sendFileOffer(file: UploadedFile): ClientMessage[] {
    this.participant.sendFileOffer(file.blob, file.name, file.size, file.mime, file.key, file.sha256);
    return this.drain();
  }

  /** Tells the group we record `id` for the keys `owners` (fingerprints), or (`id` null)
   *  that our recording ended. Throws (with the core's reason) if refused. */
  announceRecording(id: string | null, owners: string[]): ClientMessage[] {
    if (id === null) this.participant.stopRecording();
    else this.participant.startRecording(id, owners);
    return this.drain();
  }

  // Raised hands, reactions and polls: each throws (with the core's reason) if refused.

  raiseHand(raised: boolean): ClientMessage[] {
    this.participant.raiseHand(raised);
    return this.drain();
  }

  /** A moderator of the room policy lowers the hand of the member at `leaf`. */
  lowerHand(leaf: number): ClientMessage[] {
    this.participant.lowerHand(leaf);
    return this.drain();
  }

  react(emoji: string): ClientMessage[] {
    this.participant.react(emoji);
    return this.drain();
  }

  openPoll(poll: PollDraft): ClientMessage[] {
    this.participant.openPoll(poll.question, poll.options, poll.multiple, poll.anonymous, poll.resultsFor);
    return this.drain();
  }

  /** Our ballot in the poll `creator:id`, sealed to its creator alone (a later one replaces it). */
  vote(creator: number, id: number, choices: number[]): ClientMessage[] {
    this.participant.vote(creator, id, Uint8Array.from(choices));
    return this.drain();
  }

  /** Closes a poll of ours. */
  closePoll(id: number): ClientMessage[] {
    this.participant.closePoll(id);
    return this.drain();
  }

  /** Votes other members sealed to another poll's creator: our key did not open them. */
  votesNotForUs(): number {
    return this.participant.votesNotForUs();
  }

  /** Commits a self-update (post-compromise security). */
  selfUpdate(): ClientMessage[] {
    this.participant.selfUpdate();
    return this.drain();
  }

  private drain(): ClientMessage[] {
    const send: ClientMessage[] = [];
    for (let output = this.participant.pollOutput(); output; output = this.participant.pollOutput()) {
      switch (output.kind) {
        case 'send': send.push(output.message as ClientMessage); break;
        case 'epoch': {
          const { baseKey, ...state } = output;
          this.events.epoch({ epoch: state.epoch, groupId: state.groupId, ownLeaf: state.ownLeaf, roster: state.roster, code: state.code, change: state.change, policy: state.policy }, baseKey);
          break;
        }
        case 'removed': this.events.removed(); break;
        case 'notice': this.events.notice(output.change, output.member); break;
        case 'roomLink': this.events.roomLink(output.secret); break;
        case 'pinOrganisationKey': pinOrganisationKey(output.key); break;
        case 'organisationKeyChanged': this.events.warning(`This server's organisation key (${output.presented}) is not the one this browser pinned (${output.pinned}): nobody is shown as verified by your organisation. Ask your administrator whether the key was replaced.`); break;
        case 'warning': this.events.warning(output.text); break;
        case 'error': this.events.error(output.text); break;
        case 'chat': this.events.chat(output.entry); break;
        case 'chatUnreadable': this.events.chatUnreadable(output.count); break;
        case 'hands': this.events.hands(output.hands); break;
        case 'reaction': this.events.reaction(output.reaction); break;
        case 'poll': this.events.poll(output.poll); break;
        case 'file': this.events.file(output.file); break;
        case 'recordings': this.events.recordings(output.recordings); break;
        case 'breakouts': this.events.breakouts(output.breakouts); break;
        case 'breakoutBroadcast': this.events.breakoutNotice({ kind: 'broadcast', from: output.from, text: output.text }); break;
        case 'helpWanted': this.events.breakoutNotice({ kind: 'help', from: output.from, room: output.room }); break;
        // Every other kind a client sends has its own output above.
        case 'application': break;
      }
    }
    return send;
  }

  dispose(): void {
    this.participant.free();
  }
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
