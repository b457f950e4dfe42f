// The browser's MLS state machine, the same as the native client's (crates/sealroom-client/src/
// session.rs): it takes a server message and returns the messages to send, and tells its owner
// about epoch changes, warnings and errors. No sockets and no timers here: the meeting drives it.

import type { Device, EpochChange, Group, RosterMember } from 'sealroom-wasm';
import { type ClientMessage, type GroupAction, type ServerMessage, fromBase64, toBase64 } from './protocol';

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
  application(sender: number, data: Uint8Array): void;
}

export class MlsSession {
  private group: Group | null = null;
  /** A self-update was asked for and has not landed yet. */
  private wantsUpdate = false;
  /** Everyone ever seen at a leaf, so stats from a member who left still get a name. */
  readonly namesByLeaf = new Map<number, string>();

  constructor(
    private readonly device: Device,
    private readonly externalSender: Uint8Array,
    private readonly events: SessionEvents,
  ) {}

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

  /** Encrypts an application message for the group (chat, presence), if we are in it. */
  encryptApplication(data: Uint8Array): ClientMessage | null {
    if (!this.joined || !this.group) return null;
    return { type: 'application', message: toBase64(this.group.encryptApplication(data)) };
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
        }
        return [];
      }
      case 'commit_requested':
        return this.commit(message.key_packages.map(fromBase64));
      case 'application': {
        if (!this.group) return [];
        const incoming = this.group.process(fromBase64(message.message));
        if (incoming.kind === 'application') this.events.application(incoming.sender, incoming.data);
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

  /** A new epoch: fresh media keys, a new security code, a new roster. */
  private epochChanged(change: EpochChange | null): void {
    const group = this.group;
    if (!group) return;
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
