// Raised hands and polls as the page shows them: the MLS core's last word on each. The core
// decides everything (whose hand went up when, a moderator's lowering, what a poll is, the
// votes only its creator counts); this only keeps what it said, for the view, and counts the
// polls others opened while the Polls panel was closed.

import type { PollView, RaisedHand } from './session';

/** A poll's name: its creator's leaf and the creator's number for it. */
export function pollKey(poll: { creator: number; id: number }): string {
  return `${poll.creator}:${poll.id}`;
}

export class Interactions {
  /** The raised hands, in the order they went up (ours included). */
  hands: RaisedHand[] = [];
  /** Every poll we know, by `pollKey`, in the order they opened. */
  readonly polls = new Map<string, PollView>();
  /** Polls others opened while the Polls panel was closed. */
  unseenPolls = 0;

  /** The position (from 1) of the hand of the member at `leaf`, or null if it is down. */
  handPosition(leaf: number | undefined): number | null {
    const at = this.hands.findIndex((hand) => hand.leaf === leaf);
    return at < 0 ? null : at + 1;
  }

  /** A poll's new state; `seen`: the Polls panel is open. */
  pollChanged(poll: PollView, seen: boolean): void {
    const key = pollKey(poll);
    if (!this.polls.has(key) && !poll.mine && !seen) this.unseenPolls++;
    this.polls.set(key, poll);
  }

  markPollsSeen(): void {
    this.unseenPolls = 0;
  }

  /** The session is gone: a new core says again what is still up and open. */
  clear(): void {
    this.hands = [];
    this.polls.clear();
    this.unseenPolls = 0;
  }
}
