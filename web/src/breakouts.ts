// Breakout rooms, as the main room's meeting holds them. A moderator's plan comes from the MLS
// core (each room's link inside the group, never the server's to read); entering a room is a
// second meeting — its own signalling connection, encrypted group, security code, chat and
// media — joined with the room's link and a ticket from our main-room session, while the main
// meeting stays connected without sending media: the moderator's broadcasts, the timer, the
// call back and the requests for help all arrive through it.

import { generateRoomName } from 'sealroom-wasm';
import type { ClientMessage } from './protocol';
import type { BreakoutNotice, BreakoutView, MlsSession } from './session';

/** Most minutes a moderator sets on the timer. */
export const MAX_BREAKOUT_MINUTES = 24 * 60;

/** The meeting of a breakout room, as this module drives it. */
export interface RoomMeeting {
  micMuted: boolean;
  cameraOff: boolean;
  start(): Promise<{ code: string } | null>;
  leave(): void;
}

/** What the main room's meeting lends the breakout rooms. */
export interface BreakoutHost<M extends RoomMeeting> {
  /** Runs a command of our user on the main room's core and sends what it answers; the reason
   *  if it was refused. */
  command(act: (session: MlsSession) => ClientMessage[]): string | null;
  /** A meeting for breakout room `index` of the open plan, not started yet. */
  roomMeeting(index: number): M;
  /** Stops sending our media in the main room (we went to `from` a breakout room: null), or
   *  sends it again as `from` left our microphone and camera. */
  pauseMedia(from: RoomMeeting | null): Promise<void>;
  notice(text: string): void;
  changed(): void;
}

/** How a moderator sets the rooms up. */
export interface BreakoutSetup {
  rooms: number;
  /** Leaves of the members to spread over the rooms (none if they choose). */
  members: number[];
  choose: boolean;
  /** Minutes until everyone is called back (0: no timer). */
  minutes: number;
}

export class BreakoutRooms<M extends RoomMeeting> {
  /** The rooms a moderator opened, as the core shows them (null: none open). */
  plan: BreakoutView | null = null;
  /** The moderators' broadcasts since the rooms opened, oldest first. */
  readonly broadcasts: { from: string; text: string }[] = [];
  /** Moderators: who asked for help, and where, since the rooms opened. */
  readonly helpWanted: { from: string; room: string }[] = [];
  /** The breakout room we are in. */
  current: { index: number; label: string; meeting: M } | null = null;
  /** A room being entered: no second one meanwhile. */
  private entering = false;
  private closeTimer = 0;

  constructor(private readonly host: BreakoutHost<M>) {}

  /** The core's word: rooms opened, changed or closed. Closed, everyone comes back. */
  planChanged(view: BreakoutView | null): void {
    const opening = !this.plan && view;
    this.plan = view;
    if (opening) this.host.notice(view.ownRoom === null ? 'Breakout rooms are open.' : `Breakout rooms are open: you are in ${view.rooms[view.ownRoom]?.label}.`);
    if (!view) {
      window.clearTimeout(this.closeTimer);
      this.broadcasts.length = 0;
      this.helpWanted.length = 0;
      if (this.current) void this.returnToMain('The breakout rooms are closed: you are back in the main room.');
    }
    this.host.changed();
  }

  noticed(notice: BreakoutNotice): void {
    if (notice.kind === 'broadcast') {
      this.broadcasts.push({ from: notice.from, text: notice.text });
      this.host.notice(`${notice.from} to all rooms: ${notice.text}`);
    } else {
      this.helpWanted.push({ from: notice.from, room: notice.room });
      this.host.notice(`${notice.from} asks for help in ${notice.room}`);
    }
    this.host.changed();
  }

  /** Our user, a moderator, opens the rooms; with a timer, our client calls everyone back when
   *  it runs out. */
  open(setup: BreakoutSetup): string | null {
    const labels = Array.from({ length: setup.rooms }, (_, i) => `Room ${i + 1}`);
    const names = labels.map(() => generateRoomName());
    const leaves = setup.choose ? [] : setup.members;
    const rooms = leaves.map((_, i) => i % setup.rooms);
    const endsAt = setup.minutes > 0 ? Date.now() + setup.minutes * 60_000 : null;
    const refused = this.host.command((s) => s.openBreakouts({ labels, names, leaves, rooms, choose: setup.choose, endsAt }));
    if (refused === null && endsAt !== null) {
      window.clearTimeout(this.closeTimer);
      this.closeTimer = window.setTimeout(() => this.close(), endsAt - Date.now());
    }
    return refused;
  }

  broadcast(text: string): string | null {
    return this.host.command((s) => s.broadcastToBreakouts(text));
  }

  close(): string | null {
    window.clearTimeout(this.closeTimer);
    return this.host.command((s) => s.closeBreakouts());
  }

  askForHelp(): string | null {
    const current = this.current;
    if (!current) return 'You are not in a breakout room.';
    return this.host.command((s) => s.askForHelp(current.index));
  }

  /** Goes to breakout room `index`: the reason if its server refused us. */
  async enter(index: number): Promise<string | null> {
    const room = this.plan?.rooms[index];
    if (!room || this.entering) return room ? null : 'No such breakout room.';
    this.entering = true;
    try {
      if (this.current) await this.returnToMain(null);
      const meeting = this.host.roomMeeting(index);
      const refusal = await meeting.start();
      if (refusal) {
        meeting.leave();
        return `The server did not let you into ${room.label} (${refusal.code}).`;
      }
      this.current = { index, label: room.label, meeting };
      await this.host.pauseMedia(null);
      this.host.changed();
      return null;
    } finally {
      this.entering = false;
    }
  }

  /** Leaves the breakout room for the main room, telling the user `why` if it was not their
   *  choice. */
  async returnToMain(why: string | null): Promise<void> {
    const current = this.current;
    if (!current) return;
    this.current = null;
    current.meeting.leave();
    await this.host.pauseMedia(current.meeting);
    if (why) this.host.notice(why);
    this.host.changed();
  }
}
