// The lobby in the browser: the screen a joiner sees while it waits for a moderator, and the
// moderators' list of who waits, with each device's key fingerprint and Admit / Deny. Admitting
// records that key (`Meeting.admit`): our client then adds that device and no other.

import type { Meeting } from '../meeting';
import type { ParticipantInfo } from '../protocol';
import { brand } from './home';
import { accountBadge } from './account';
import { h, icon, initials } from './dom';

export interface LobbyWaitingScreen {
  el: HTMLElement;
  /** Brings what it shows up to date (the fingerprint arrives after the first render). */
  update(): void;
}

/** "Waiting for a moderator to let you in" (the lobby) or "Waiting for a moderator to start the
 *  meeting" (nobody joins before a moderator, and none is there): our camera preview, the room,
 *  and the key a moderator sees next to our name, so it can be compared out loud. Built once
 *  and kept, so the preview does not restart. */
export function lobbyWaitingScreen(meeting: Meeting, leave: () => void): LobbyWaitingScreen {
  const preview = h('video', { class: 'lobby-preview', autoplay: true, playsinline: true, muted: true, 'aria-label': 'Your camera preview' });
  preview.muted = true;
  const fingerprint = h('code', { class: 'fingerprint lobby-fingerprint', 'data-testid': 'own-fingerprint' });
  const connection = h('p', { class: 'lobby-connection', 'data-testid': 'lobby-connection', hidden: true });
  const title = h('h1', { 'data-testid': 'lobby-waiting-title' });
  const pulse = h('span', { class: 'lobby-pulse', 'aria-hidden': 'true' });
  const explain = h('p', { class: 'muted', 'data-testid': 'lobby-waiting-explain' });
  let shownWait: Meeting['lobbyWait'] | null = null;
  const card = h('div', { class: 'card lobby-card', 'data-testid': 'lobby-waiting', role: 'status', 'aria-live': 'polite' },
    h('div', { class: 'lobby-visual' }, preview, pulse),
    title,
    h('p', { class: 'room-label' }, h('span', { class: 'muted' }, 'Room '), h('code', { class: 'room-name', 'data-testid': 'lobby-room-name' }, meeting.room)),
    explain,
    fingerprint,
    connection,
    h('p', { class: 'fineprint' }, icon('lock'), 'Until you are let in, this device receives nothing of the meeting and sends none of your audio or video.'),
    h('div', { class: 'card-actions' },
      h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'lobby-leave-button', onclick: leave }, icon('leave'), 'Leave')));
  const el = h('div', { class: 'prejoin lobby-screen' },
    h('header', { class: 'home-header' }, brand()),
    h('main', { class: 'center-card' }, card));
  return {
    el,
    update() {
      const video = meeting.cameraOff ? null : meeting.local.video;
      const current = (preview.srcObject as MediaStream | null)?.getVideoTracks()[0] ?? null;
      if (video !== current) preview.srcObject = video ? new MediaStream([video]) : null;
      preview.hidden = !video;
      fingerprint.textContent = meeting.fingerprint ?? '…';
      if (shownWait !== meeting.lobbyWait) {
        // Only on a change: the card is a live region, and each rewrite is read out.
        shownWait = meeting.lobbyWait;
        card.dataset.wait = shownWait;
        const name = `“${meeting.displayName}”`;
        if (shownWait === 'moderator') {
          title.textContent = 'Waiting for a moderator to start the meeting';
          explain.textContent = `Nobody who moderates this meeting has arrived yet. You are let in when one does (or, if the room has a lobby, when they admit you). They see your name, ${name}, and this device key:`;
          pulse.replaceChildren(icon('star'));
        } else {
          title.textContent = 'Waiting for a moderator to let you in';
          explain.textContent = `You are in the lobby. A moderator sees your name, ${name}, and this device key. If they ask, read it out to them:`;
          pulse.replaceChildren(icon('door'));
        }
      }
      // A dropped connection knocks again with a new device key once it is back.
      connection.hidden = meeting.connection !== 'reconnecting';
      connection.textContent = connection.hidden ? '' : `Reconnecting… ${meeting.connectionDetail}`;
    },
  };
}

export interface LobbyListContext {
  meeting: Meeting;
  toast(text: string): void;
  update(): void;
}

/** Moderators: who waits in the lobby, each with its device key and Admit / Deny. Admit stays
 *  disabled until the server has the device's key package (and so its fingerprint). */
export function lobbyList({ meeting, toast, update }: LobbyListContext): HTMLElement | null {
  const waiting = meeting.lobby;
  if (!meeting.isModerator || (!meeting.roomSettings.lobby && waiting.length === 0)) return null;
  return h('section', { class: 'lobby-section', 'aria-labelledby': 'lobby-title', 'data-testid': 'lobby-list' },
    h('h3', { id: 'lobby-title' }, 'Waiting in the lobby', waiting.length ? h('span', { class: 'pill warn' }, String(waiting.length)) : null),
    waiting.length === 0
      ? h('p', { class: 'muted small' }, 'Nobody is waiting. People who open the link wait here until you let them in.')
      : h('ul', { class: 'people-list' }, ...waiting.map((p) => entry(p))));

  function entry(p: ParticipantInfo): HTMLElement {
    const admitting = meeting.admitting.has(p.id);
    return h('li', { class: 'person lobby-entry', 'data-name': p.display_name, 'data-participant-id': p.id },
      h('div', { class: 'person-main' },
        h('span', { class: 'avatar avatar-sm' }, initials(p.display_name)),
        h('span', { class: 'person-name' }, p.display_name),
        accountBadge(p.account, p.role === 'guest')),
      p.fingerprint
        ? h('p', { class: 'lobby-key' }, h('span', { class: 'muted small' }, 'Device key '), h('code', { class: 'fingerprint', 'data-testid': 'lobby-fingerprint' }, p.fingerprint))
        : h('p', { class: 'muted small', 'data-testid': 'lobby-fingerprint-pending' }, 'Waiting for their device key…'),
      h('div', { class: 'person-actions', role: 'group', 'aria-label': `Lobby: ${p.display_name}` },
        h('button', {
          type: 'button', class: 'btn btn-small btn-primary', 'data-testid': 'admit-button', disabled: !p.fingerprint || admitting,
          'aria-label': `${admitting ? 'Admitting' : 'Admit'} ${p.display_name}`, title: p.fingerprint ? 'Let them in: your device adds theirs to the encrypted group' : 'Their device key has not arrived yet',
          onclick: () => {
            if (meeting.admit(p.id)) toast(`Letting ${p.display_name} in…`);
            update();
          },
        }, icon('check'), admitting ? 'Admitting…' : 'Admit'),
        h('button', {
          type: 'button', class: 'btn btn-small btn-ghost danger', 'data-testid': 'deny-button', disabled: admitting,
          'aria-label': `Deny ${p.display_name}`, title: 'Turn them away; a device turned away twice is banned from this room',
          onclick: () => { meeting.deny(p.id); toast(`Turning ${p.display_name} away…`); },
        }, icon('ban'), 'Deny')));
  }
}
