// The meeting's chat as this tab keeps it: what members sent (decrypted by the MLS core, named
// from their credentials), what we sent, and the room's number of the last message we have. It
// lives in the tab's sessionStorage, so a reload shows the same conversation and asks the
// server only for what came after (the core shows none twice); the browser drops it when the
// tab closes. A room that emptied and filled again is a new group, and a new conversation.

import type { ChatEntry } from 'sealroom-wasm';
import { fromHex, toHex } from './hex';

/** One line of the conversation. */
export interface ChatLine {
  /** The room's number for it (0: ours, or a note of the page's). */
  seq: number;
  /** A member's message, or the page's note (messages it could not decrypt). */
  kind: 'message' | 'note';
  /** The sender's name from its MLS credential; ours for what we sent. */
  from: string;
  own: boolean;
  /** Sealed to one member: us, or (ours) `to`. */
  private: boolean;
  to?: string;
  text: string;
  /** Milliseconds since the Unix epoch, by the sender's clock. */
  sentAt: number;
}

/** Most lines a tab keeps: the oldest go first. */
const MAX_LINES = 2000;

interface Stored { groupId: string | null; lastSeq: number; ownIds: string[]; lines: ChatLine[] }

export class ChatLog {
  lines: ChatLine[] = [];
  /** Messages received while the chat was not open. */
  unread = 0;
  /** The group whose conversation this is (hex), once we entered one. */
  groupId: string | null = null;
  /** The highest room number among the messages we have. */
  lastSeq = 0;
  /** Our participant ids in this conversation: our own messages in the room's history. */
  ownIds: string[] = [];

  private constructor(private readonly storageKey: string) {}

  /** The tab's conversation in `room` (empty if it has none, or it cannot be read). */
  static load(room: string): ChatLog {
    const log = new ChatLog(`sealroom-chat:${room}`);
    try {
      const stored = JSON.parse(sessionStorage.getItem(log.storageKey) ?? 'null') as Stored | null;
      if (stored) Object.assign(log, { groupId: stored.groupId, lastSeq: stored.lastSeq, ownIds: stored.ownIds, lines: stored.lines });
    } catch {
      sessionStorage.removeItem(log.storageKey);
    }
    return log;
  }

  /** We are in the group `id`: another group's conversation is over. */
  enterGroup(id: Uint8Array): void {
    const groupId = toHex(id);
    if (groupId === this.groupId) return;
    if (this.groupId !== null) Object.assign(this, { lines: [], lastSeq: 0, ownIds: [], unread: 0 });
    this.groupId = groupId;
    this.save();
  }

  /** The group whose chat we hold, for the core to catch up in (null: none yet). */
  get group(): Uint8Array | null {
    return this.groupId === null ? null : fromHex(this.groupId);
  }

  /** Our participant id in this session: its messages in the room's history are ours. */
  addOwnId(id: string): void {
    if (!this.ownIds.includes(id)) this.ownIds.push(id);
    this.save();
  }

  received(entry: ChatEntry, read: boolean): void {
    this.lastSeq = Math.max(this.lastSeq, entry.seq);
    this.add({ seq: entry.seq, kind: 'message', from: entry.senderName, own: false, private: entry.private, text: entry.text, sentAt: entry.sentAt }, read);
  }

  sent(from: string, text: string, to: string | null, sentAt: number): void {
    this.add({ seq: 0, kind: 'message', from, own: true, private: to !== null, to: to ?? undefined, text, sentAt }, true);
  }

  /** Messages of the room's history this device cannot decrypt (sent before it joined). */
  unreadable(count: number): void {
    const text = count === 1
      ? 'A message sent while you were away cannot be read on this device: it was encrypted before you rejoined.'
      : `${count} messages sent while you were away cannot be read on this device: they were encrypted before you rejoined.`;
    this.add({ seq: 0, kind: 'note', from: '', own: false, private: false, text, sentAt: Date.now() }, false);
  }

  markRead(): void {
    this.unread = 0;
  }

  private add(line: ChatLine, read: boolean): void {
    this.lines.push(line);
    if (this.lines.length > MAX_LINES) this.lines.splice(0, this.lines.length - MAX_LINES);
    if (!read) this.unread++;
    this.save();
  }

  private save(): void {
    const stored: Stored = { groupId: this.groupId, lastSeq: this.lastSeq, ownIds: this.ownIds, lines: this.lines };
    try {
      sessionStorage.setItem(this.storageKey, JSON.stringify(stored));
    } catch {
      // Storage full or off: the conversation stays in memory, and a reload would lose it.
    }
  }
}
