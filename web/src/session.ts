// The browser's MLS state machine, the same as the native client's (crates/sealroom-client/src/
// session.rs): it takes a server message and returns the messages to send, and tells its owner
// about epoch changes, warnings and errors. No sockets and no timers here: the meeting drives it.

import { Device, type EpochChange, type Group, type RosterMember } from 'sealroom-wasm';
import {
  type ApplicationKind, type ClientMessage, type GroupAction, type ServerMessage,
  applicationKind, applicationLabel, fromBase64, toBase64,
} from './protocol';

export interface EpochState {
  epoch: bigint;
  ownLeaf: number;
  roster: RosterMember[];
  code: { digits: string; words: string[] };
  baseKey: Uint8Array;
  change: EpochChange | null;
}

export interface SessionEvents {
  epoch(state: EpochState): void;
  removed(): void;
  warning(text: string): void;
  error(text: string): void;
  /** `kind` is the sender's label, authenticated by MLS; null if it carried none we know. */
  application(sender: number, kind: ApplicationKind | null, data: Uint8Array): void;
}

/** What the room's lobby rules need from the meeting: the server's settings and list, and what
 *  our user did. In a lobby room only a moderator's client adds members, and only those its user
 *  admitted; the same rules as the native client's (`admissible`, `check_admissions`). */
export interface AdmissionPolicy {
  /** The room has a lobby (`room_settings.lobby`). */
  lobby(): boolean;
  /** Our user admitted the device with this key fingerprint from the lobby. */
  admitted(fingerprint: string): boolean;
  /** The server lists the participant with this key fingerprint as a moderator. */
  isModerator(fingerprint: string): boolean;
}

export class MlsSession {
  private group: Group | null = null;
  /** A self-update was asked for and has not landed yet. */
  private wantsUpdate = false;
  /** The server proposed removals this epoch: a commit, even one adding nobody, carries them. */
  private proposalsPending = false;
  /** Devices the server asked us to add that our user did not admit, warned about once each. */
  private readonly refusedDevices = new Set<string>();
  /** Everyone ever seen at a leaf, so stats from a member who left still get a name. */
  readonly namesByLeaf = new Map<number, string>();

  constructor(
    private readonly device: Device,
    private readonly externalSender: Uint8Array,
    private readonly events: SessionEvents,
    private readonly admission: AdmissionPolicy,
  ) {}

  /** Our device's key fingerprint: the one the lobby shows moderators. */
  get fingerprint(): string {
    return this.device.fingerprint();
  }

  get joined(): boolean {
    return this.group !== null && !this.group.isRemoved();
  }

  onJoined(action: GroupAction): ClientMessage[] {
    this.dropGroup();
    if (action === 'create_group') {
      const group = this.device.createGroup(this.externalSender);
      this.group = group;
      this.epochChanged(null);
      return [{ type: 'group_created', group_info: toBase64(group.groupInfo()) }];
    }
    // `await_welcome` and `wait_in_lobby` alike: a key package, then a Welcome (or, from the
    // lobby, a denial).
    return [{ type: 'key_package', key_package: toBase64(this.device.keyPackage()) }];
  }

  /** Handles an MLS-related server message; returns what to send back. */
  onMessage(message: ServerMessage): ClientMessage[] {
    try {
      return this.dispatch(message);
    } catch (e) {
      this.events.error(`${message.type}: ${errorText(e)}`);
      return [];
    }
  }

  /** Commits a self-update (post-compromise security), retried on the new epoch if another commit wins. */
  selfUpdate(): ClientMessage[] {
    this.wantsUpdate = true;
    return this.commit([]);
  }

  /** Encrypts an application message of `kind` for the group, if we are in it. The kind goes
   *  along as authenticated data, which the server checks against the room's permissions. */
  encryptApplication(kind: ApplicationKind, data: Uint8Array): ClientMessage | null {
    if (!this.joined || !this.group) return null;
    return { type: 'application', message: toBase64(this.group.encryptApplication(applicationLabel(kind), data)) };
  }

  private dispatch(message: ServerMessage): ClientMessage[] {
    switch (message.type) {
      case 'joined':
        // The group was lost (everyone holding it left): start again.
        return this.onJoined(message.group);
      case 'welcome': {
        const group = this.device.joinGroup(fromBase64(message.welcome));
        this.dropGroup();
        this.group = group;
        this.epochChanged(null);
        return [];
      }
      case 'commit':
        return this.onCommit(fromBase64(message.commit));
      case 'commit_accepted': {
        if (!this.group || !this.group.hasPendingCommit()) return [];
        const change = this.group.mergePendingCommit();
        this.wantsUpdate = false;
        this.checkAdmissions(change);
        this.epochChanged(change);
        return [];
      }
      case 'commit_rejected':
        return this.onCommitRejected(BigInt(message.epoch), message.code);
      case 'proposal': {
        if (!this.group) return [];
        const incoming = this.group.process(fromBase64(message.proposal));
        // The server may only propose removals; the MLS rules keep any other proposal out of
        // every commit, and the user is told someone tried.
        if (incoming.kind === 'proposal' && incoming.sender === 'external' && incoming.change === 'add') {
          this.events.warning(`The server tried to add "${incoming.name ?? 'someone'}" to the encrypted group. It was refused.`);
        } else if (incoming.kind === 'proposal' && incoming.change === 'remove') {
          this.proposalsPending = true;
        }
        return [];
      }
      case 'commit_requested': {
        const keyPackages = message.key_packages.map(fromBase64);
        const admissible = this.admissible(keyPackages);
        // Nobody we may add: pending removals still get committed; otherwise nothing to do,
        // and the server passes the request on.
        if (admissible.length === 0 && keyPackages.length > 0 && !this.proposalsPending && !this.wantsUpdate) return [];
        return this.commit(admissible);
      }
      case 'application': {
        if (!this.group) return [];
        const incoming = this.group.process(fromBase64(message.message));
        if (incoming.kind === 'application') this.events.application(incoming.sender, applicationKind(incoming.authenticatedData), incoming.data);
        return [];
      }
      default:
        return [];
    }
  }

  private onCommit(commit: Uint8Array): ClientMessage[] {
    const group = this.group;
    if (!group) return [];
    // Another commit won the epoch: ours, if any, is void.
    if (group.hasPendingCommit()) group.discardPendingCommit();
    const incoming = group.process(commit);
    if (incoming.kind !== 'commit') {
      this.events.error('expected a commit');
      return [];
    }
    this.checkAdmissions(incoming.change);
    this.epochChanged(incoming.change);
    if (incoming.change.removedUs) return [];
    return this.wantsUpdate ? this.commit([]) : [];
  }

  private onCommitRejected(serverEpoch: bigint, code: string): ClientMessage[] {
    const group = this.group;
    if (!group) return [];
    // A rejection can be stale: if we already moved to the server's epoch and committed again
    // there, that newer commit is still in play.
    const stale = code === 'wrong_epoch' && group.epoch() >= serverEpoch;
    if (group.hasPendingCommit() && !stale) group.discardPendingCommit();
    if (this.wantsUpdate && group.epoch() >= serverEpoch && !group.hasPendingCommit()) return this.commit([]);
    return [];
  }

  private commit(keyPackages: Uint8Array[]): ClientMessage[] {
    const group = this.group;
    if (!group || group.hasPendingCommit() || group.isRemoved()) return [];
    const out = group.commit(keyPackages);
    return [{
      type: 'commit',
      epoch: Number(out.epoch),
      commit: toBase64(out.commit),
      welcome: out.welcome ? toBase64(out.welcome) : null,
    }];
  }

  /** In a lobby room, only devices our user admitted, and moderators (who enter past the lobby,
   *  with the host link or signed in when none was in the meeting: their role is the server's
   *  word, shown to everyone): a server that asks us to add anyone else is refused, and the user
   *  told (once per device). */
  private admissible(keyPackages: Uint8Array[]): Uint8Array[] {
    if (!this.admission.lobby()) return keyPackages;
    return keyPackages.filter((keyPackage) => {
      let fingerprint: string;
      try {
        fingerprint = Device.keyPackageFingerprint(keyPackage);
      } catch (e) {
        this.events.error(`commit_requested: an unreadable key package was left out: ${errorText(e)}`);
        return false;
      }
      if (this.admission.admitted(fingerprint) || this.admission.isModerator(fingerprint)) return true;
      if (!this.refusedDevices.has(fingerprint)) {
        this.refusedDevices.add(fingerprint);
        this.events.warning(`The server asked us to add a device we did not admit (key ${fingerprint}); refused.`);
      }
      return false;
    });
  }

  /** In a lobby room, every member added must have been added by a moderator (the client of the
   *  moderator who admitted it), or be a moderator itself (entered past the lobby): anyone else
   *  is flagged to the user. Called before `epochChanged`, with the group already in the new
   *  epoch. */
  private checkAdmissions(change: EpochChange): void {
    const group = this.group;
    if (!group || change.added.length === 0 || !this.admission.lobby()) return;
    const committer = group.roster().find((m) => m.leaf === change.committer);
    if (committer && this.admission.isModerator(committer.fingerprint)) return;
    const unadmitted = change.added.filter((m) => !this.admission.isModerator(m.fingerprint));
    if (unadmitted.length === 0) return;
    const added = unadmitted.map((m) => `"${m.name}"`).join(', ');
    const by = committer ? `"${committer.name}"` : `leaf ${change.committer}`;
    this.events.warning(`${added} joined the encrypted group without a moderator's admission (added by ${by}, who is not a moderator).`);
  }

  /** A new epoch: fresh media keys, a new security code, a new roster. */
  private epochChanged(change: EpochChange | null): void {
    const group = this.group;
    if (!group) return;
    this.proposalsPending = false;
    if (group.isRemoved() || change?.removedUs) {
      this.events.removed();
      return;
    }
    const roster = group.roster();
    for (const member of roster) this.namesByLeaf.set(member.leaf, member.name);
    this.events.epoch({
      epoch: group.epoch(),
      ownLeaf: group.ownLeafIndex(),
      roster,
      code: group.securityCode(),
      baseKey: group.sframeBaseKey(),
      change,
    });
  }

  private dropGroup(): void {
    if (this.group) {
      try { this.group.free(); } catch { /* already freed */ }
    }
    this.group = null;
  }

  dispose(): void {
    this.dropGroup();
  }
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
