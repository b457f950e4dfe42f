// The meeting screen: the tile grid, the control bar, the people, chat, polls and security panels (with the
// moderators' controls: room access, the lobby, "wait for a moderator", the host link,
// permissions, mute, end meeting), the banners, the
// lobby waiting screen and the screens that end a meeting. It reads the Meeting's state on every
// change and updates the DOM in place (video elements are kept, so playback never restarts).

import type { RosterMember } from 'sealroom-wasm';
import { servedBundleHash } from '../bundle-hash';
import { deviceLabel, listDevices, openCamera, openMicrophone } from '../devices';
import type { Meeting, RemoteParticipant } from '../meeting';
import type { ParticipantInfo } from '../protocol';
import { markVerified, verification } from '../verified';
import { accountBadge, orgIdentityBadge } from './account';
import { announcer } from './announcer';
import { chatPanel } from './chat';
import { badged, h, icon, initials } from './dom';
import { raisedHands, setTileLeaf } from './hands';
import { lobbyList, lobbyWaitingScreen } from './lobby';
import { permissionsCard } from './permissions';
import { pollsPanel } from './polls';
import { breakoutControls } from './breakouts';
import { recordingControls } from './recording';
import { reactions as reactionControls } from './reactions';

interface Tile {
  el: HTMLElement;
  video: HTMLVideoElement;
  avatar: HTMLElement;
  name: HTMLElement;
  badge: HTMLElement;
  mic: HTMLElement;
}

type Panel = 'people' | 'chat' | 'polls' | 'recordings' | 'breakouts' | 'security' | null;

declare global {
  interface Window { sealroomDebug?: unknown }
}
/** True only in a test build (`SEALROOM_TEST_HOOKS=1 scripts/build-web`): then the page hands
 *  its meeting to the tests as `window.sealroomDebug`. */
declare const SEALROOM_TEST_HOOKS: boolean;

/** Shows a meeting the server has let us in to (see `Meeting.start`): the main room's, or
 *  (`main` another) one of its breakout rooms, until we go back. Whichever room we enter, the
 *  screen follows. */
export function renderMeeting(root: HTMLElement, meeting: Meeting, home: () => void, main: Meeting = meeting): void {
  const room = meeting.room;
  /** A breakout room goes by its main room and its label; the server's name for it says nothing. */
  const breakoutLabel = main.breakouts.current?.meeting === meeting ? main.breakouts.current.label : null;
  const roomTitle = breakoutLabel ? `${main.room} · ${breakoutLabel}` : room;
  let panel: Panel = null;
  let verifiedNonce = 0;
  /** Participants we asked the server to remove, until they are gone. */
  const removing = new Set<string>();
  /** Lobby entries already announced, so each knock is announced once. */
  const knocks = new Set<string>();
  /** The bundle hash the server describes (`undefined` until it has been fetched). */
  let bundleHash: string | null | undefined;
  void servedBundleHash().then((hash) => { bundleHash = hash; if (panel === 'security') update(); });

  // --- skeleton ---
  const e2eeStatus = h('span', { class: 'e2ee-pill', 'data-testid': 'e2ee-status', role: 'status', 'aria-live': 'polite' }, 'connecting');
  const countNumber = h('span', {});
  const count = h('span', { class: 'count', 'aria-label': 'People in the encrypted meeting' }, icon('people'), countNumber);
  const copyButton = h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Copy meeting link', title: 'Copy meeting link', 'data-testid': 'copy-link-button' }, icon('copy'));
  copyButton.addEventListener('click', () => {
    void navigator.clipboard?.writeText(location.href).then(() => toast('Meeting link copied'), () => toast(location.href));
  });
  const lockedPill = h('span', { class: 'room-pill locked', 'data-testid': 'room-locked', title: 'Locked: nobody new can join', hidden: true },
    icon('lock'), h('span', { class: 'room-pill-label' }, 'Locked'));
  const passwordPill = h('span', { class: 'room-pill', 'data-testid': 'room-password-badge', title: 'New joiners need the room password', hidden: true },
    icon('key'), h('span', { class: 'room-pill-label' }, 'Password'));
  const lobbyPill = h('span', { class: 'room-pill', 'data-testid': 'room-lobby-badge', title: 'New joiners wait in the lobby until a moderator lets them in', hidden: true },
    icon('door'), h('span', { class: 'room-pill-label' }, 'Lobby'));
  const mutedPill = h('span', { class: 'room-pill locked', 'data-testid': 'muted-by-moderator', role: 'status', title: 'The others do not hear you until you unmute', hidden: true },
    icon('micOff'), h('span', { class: 'room-pill-label' }, 'A moderator muted you'));
  const recording = recordingControls(meeting, toast, () => { panel = panel === 'recordings' ? null : 'recordings'; update(); });
  const topbar = h('header', { class: 'topbar' },
    h('div', { class: 'topbar-left' }, h('span', { class: 'brand-mark small' }, icon('lock')), h('span', { class: 'topbar-room', title: roomTitle }, roomTitle), copyButton, lockedPill, passwordPill, lobbyPill, mutedPill, recording.indicator),
    h('div', { class: 'topbar-right' }, e2eeStatus, count));

  const reconnecting = h('div', { class: 'banner banner-info', role: 'status', 'data-testid': 'reconnecting-banner', hidden: true });
  const warnings = h('div', { class: 'banner banner-warning', role: 'alert', 'data-testid': 'mls-warning', hidden: true });
  const grid = h('section', { class: 'grid', 'aria-label': 'Participants' });
  const sidePanel = h('aside', { class: 'panel', hidden: true, 'aria-label': 'Side panel' });
  const audioSink = h('div', { class: 'audio-sink', 'aria-hidden': 'true' });
  const toastEl = h('div', { class: 'toast', role: 'status', 'aria-live': 'polite', 'data-testid': 'toast', hidden: true });

  const muteButton = controlButton('mute-button', 'Mute microphone', 'mic', 'Mute');
  const cameraButton = controlButton('camera-button', 'Stop video: turn the camera off', 'camera', 'Stop video');
  const screenButton = controlButton('screenshare-button', 'Share your screen', 'screen', 'Share');
  const settingsButton = controlButton('settings-button', 'Devices: choose camera and microphone', 'settings', 'Devices');
  const peopleButton = controlButton('people-button', 'People: show participants', 'people', 'People');
  // Moderators: how many wait in the lobby.
  const lobbyBadge = h('span', { class: 'ctrl-badge', 'data-testid': 'lobby-badge', hidden: true });
  const chatButton = controlButton('chat-button', 'Chat: show chat', 'chat', 'Chat');
  const chatBadge = h('span', { class: 'ctrl-badge', 'data-testid': 'chat-unread', hidden: true });
  const chat = chatPanel(meeting, toast);
  const announce = announcer();
  const hands = raisedHands(meeting, grid, toast, announce.say);
  const reactions = reactionControls(meeting, grid, toast, announce.say);
  const polls = pollsPanel(meeting, toast, () => { panel = panel === 'polls' ? null : 'polls'; update(); });
  const breakouts = breakoutControls(main, meeting, toast, () => { panel = panel === 'breakouts' ? null : 'breakouts'; update(); });
  const securityButton = controlButton('security-button', 'Verify: show the security code and keys', 'shield', 'Verify');
  const leaveLabel = meeting === main ? 'Leave meeting' : 'Leave the breakout room for the main room';
  const leaveButton = h('button', { type: 'button', class: 'ctrl ctrl-leave', 'data-testid': 'leave-button', 'aria-label': leaveLabel, title: leaveLabel }, icon('leave'), h('span', { class: 'ctrl-label' }, 'Leave'));
  const controls = h('footer', { class: 'controls', 'aria-label': 'Meeting controls' },
    h('div', { class: 'controls-group' }, muteButton, cameraButton, screenButton, recording.button, settingsButton),
    h('div', { class: 'controls-group' }, hands.button, reactions.control, badged(peopleButton, lobbyBadge), badged(chatButton, chatBadge), polls.control, breakouts.button, recording.libraryButton, securityButton),
    h('div', { class: 'controls-group' }, leaveButton));

  const settings = h('dialog', { class: 'dialog', 'aria-labelledby': 'settings-title' });
  const modDialog = h('dialog', { class: 'dialog', 'aria-labelledby': 'mod-dialog-title' });
  const screen = h('div', { class: 'meeting' }, topbar, reconnecting, warnings, breakouts.banner, h('div', { class: 'stage' }, grid, reactions.strip, sidePanel), controls, settings, modDialog, audioSink, announce.el, toastEl);
  root.replaceChildren(screen);
  // While we knock, the lobby screen stands in for the meeting (which is kept, not rebuilt).
  const lobbyScreen = lobbyWaitingScreen(meeting, () => meeting.leave());

  // --- tiles ---
  const tiles = new Map<string, Tile>();
  const audios = new Map<string, HTMLAudioElement>();

  function tile(key: string, self: boolean): Tile {
    let t = tiles.get(key);
    if (t) return t;
    const video = h('video', { autoplay: true, playsinline: true, muted: true });
    video.muted = true;
    const avatar = h('div', { class: 'avatar' });
    const name = h('span', { class: 'tile-name' });
    const badge = h('span', { class: 'tile-badge', hidden: true });
    const mic = h('span', { class: 'tile-mic', hidden: true }, icon('micOff'));
    const isScreen = key.startsWith('screen:');
    const el = h('div', { class: `tile${self ? ' self' : ''}${isScreen ? ' screen' : ''}`, 'data-testid': isScreen ? 'screenshare-tile' : 'participant-tile', 'data-self': String(self), role: 'group' },
      video, avatar, h('div', { class: 'tile-footer' }, mic, name, badge));
    t = { el, video, avatar, name, badge, mic };
    tiles.set(key, t);
    grid.appendChild(el);
    return t;
  }

  function setVideo(t: Tile, track: MediaStreamTrack | null | undefined, live: boolean): void {
    const current = (t.video.srcObject as MediaStream | null)?.getVideoTracks()[0];
    if ((track ?? null) !== (current ?? null)) t.video.srcObject = track ? new MediaStream([track]) : null;
    t.el.classList.toggle('video-on', !!track && live);
  }

  function renderTiles(): void {
    const seen = new Set<string>();
    // Ourselves.
    const me = tile('self', true);
    seen.add('self');
    me.el.dataset.name = meeting.displayName;
    setTileLeaf(me.el, meeting.epoch?.ownLeaf);
    me.el.setAttribute('aria-label', `${meeting.displayName} (you)`);
    me.name.textContent = `${meeting.displayName} (you)`;
    me.avatar.textContent = initials(meeting.displayName);
    me.mic.hidden = !meeting.micMuted && !meeting.mutedByModerator;
    me.mic.title = meeting.mutedByModerator ? 'A moderator muted you' : 'Muted';
    setVideo(me, meeting.cameraOff ? null : meeting.local.video, !meeting.cameraOff);
    if (meeting.screen) {
      const s = tile('screen:self', true);
      seen.add('screen:self');
      s.el.dataset.name = meeting.displayName;
      s.name.textContent = 'Your screen';
      s.el.setAttribute('aria-label', 'Your shared screen');
      setVideo(s, meeting.screen, true);
    }
    for (const p of meeting.remotes.values()) {
      renderRemote(p);
      seen.add(p.id);
      if (p.screenLive) seen.add(`screen:${p.id}`);
    }
    for (const [key, t] of tiles) {
      if (!seen.has(key)) {
        t.video.srcObject = null;
        t.el.remove();
        tiles.delete(key);
      }
    }
    // Remote audio plays through hidden <audio> elements.
    const audioSeen = new Set<string>();
    for (const p of meeting.remotes.values()) {
      const track = p.tracks.audio?.track;
      if (!track) continue;
      audioSeen.add(p.id);
      let el = audios.get(p.id);
      if (!el) {
        el = h('audio', { autoplay: true });
        audios.set(p.id, el);
        audioSink.appendChild(el);
      }
      if ((el.srcObject as MediaStream | null)?.getAudioTracks()[0] !== track) {
        el.srcObject = new MediaStream([track]);
        void el.play().catch(() => {});
      }
    }
    for (const [id, el] of audios) if (!audioSeen.has(id)) { el.srcObject = null; el.remove(); audios.delete(id); }

    const people = 1 + meeting.remotes.size;
    const screens = grid.querySelectorAll('.tile.screen').length;
    grid.dataset.count = String(Math.min(people, 9));
    grid.classList.toggle('has-screen', screens > 0);
    grid.style.setProperty('--rows', String(Math.max(people, 3)));
    // Screens first: they take the big area.
    for (const el of grid.querySelectorAll('.tile.screen')) grid.prepend(el);
    // The encrypted group's own count, once we are in it; the server's before.
    countNumber.textContent = String(meeting.roster.length || people);
  }

  function renderRemote(p: RemoteParticipant): void {
    const t = tile(p.id, false);
    t.el.dataset.name = p.name;
    t.el.dataset.participantId = p.id;
    setTileLeaf(t.el, p.member?.leaf);
    t.name.textContent = p.name;
    t.avatar.textContent = initials(p.name);
    t.el.setAttribute('aria-label', p.name);
    t.el.classList.toggle('speaking', meeting.activeSpeaker === p.id);
    // Only a moderator's mute is known here; a microphone muted at home sends silence.
    const muted = meeting.serverParticipants.find((s) => s.id === p.id)?.muted ?? false;
    t.mic.hidden = !muted;
    t.mic.title = muted ? 'Muted by a moderator' : '';
    setVideo(t, p.tracks.camera?.track, p.cameraLive);
    const member = p.member;
    if (meeting.epoch && !member) {
      badge(t, 'Not in the encrypted group', 'danger');
    } else if (member && verification(member.name, member.fingerprint) === 'changed') {
      badge(t, 'Key changed', 'danger');
    } else if (member && verification(member.name, member.fingerprint) === 'verified') {
      badge(t, 'Verified', 'ok');
    } else {
      t.badge.hidden = true;
    }
    if (p.screenLive) {
      const s = tile(`screen:${p.id}`, false);
      s.el.dataset.name = p.name;
      s.name.textContent = `${p.name}'s screen`;
      s.el.setAttribute('aria-label', `${p.name}'s shared screen`);
      setVideo(s, p.tracks.screen?.track, true);
    }
  }

  function badge(t: Tile, text: string, tone: 'ok' | 'danger'): void {
    t.badge.hidden = false;
    t.badge.textContent = text;
    t.badge.className = `tile-badge ${tone}`;
  }

  // --- controls ---
  function renderControls(): void {
    const micOff = meeting.micMuted || meeting.mutedByModerator;
    setControl(muteButton, micOff, meeting.mutedByModerator ? 'Unmute microphone (a moderator muted you)' : micOff ? 'Unmute microphone' : 'Mute microphone', micOff ? 'micOff' : 'mic', micOff ? 'Unmute' : 'Mute');
    muteButton.disabled = !meeting.local.audio;
    setControl(cameraButton, meeting.cameraOff, meeting.cameraOff ? 'Start video: turn the camera on' : 'Stop video: turn the camera off', meeting.cameraOff ? 'cameraOff' : 'camera', meeting.cameraOff ? 'Start video' : 'Stop video');
    const sharing = meeting.screen !== null;
    setControl(screenButton, false, sharing ? 'Stop sharing your screen' : 'Share your screen', 'screen', sharing ? 'Stop sharing' : 'Share');
    screenButton.classList.toggle('active', sharing);
    screenButton.setAttribute('aria-pressed', String(sharing));
    // Hidden when the room's permissions leave our role out (a share running when that
    // changed is stopped; the button stays while one runs so it can be stopped).
    screenButton.hidden = !navigator.mediaDevices?.getDisplayMedia || (!meeting.mayShareScreen && !sharing);
    const waiting = meeting.isModerator ? meeting.lobby.length : 0;
    lobbyBadge.hidden = waiting === 0;
    lobbyBadge.textContent = String(waiting);
    peopleButton.setAttribute('aria-label', waiting ? `People: show participants (${waiting} waiting in the lobby)` : 'People: show participants');
    peopleButton.classList.toggle('active', panel === 'people');
    peopleButton.setAttribute('aria-pressed', String(panel === 'people'));
    const unread = meeting.chat.unread;
    chatBadge.hidden = unread === 0;
    chatBadge.textContent = String(unread);
    chatButton.setAttribute('aria-label', unread ? `Chat: show chat (${unread} unread)` : 'Chat: show chat');
    chatButton.classList.toggle('active', panel === 'chat');
    chatButton.setAttribute('aria-pressed', String(panel === 'chat'));
    polls.update(panel === 'polls');
    breakouts.update(panel === 'breakouts');
    recording.update(panel === 'recordings');
    securityButton.classList.toggle('active', panel === 'security');
    securityButton.setAttribute('aria-pressed', String(panel === 'security'));
  }

  muteButton.addEventListener('click', () => void meeting.setMicMuted(!(meeting.micMuted || meeting.mutedByModerator)));
  cameraButton.addEventListener('click', () => void meeting.setCameraOff(!meeting.cameraOff, () => openCamera(preferredCamera)));
  screenButton.addEventListener('click', () => {
    const action = meeting.screen ? meeting.stopScreenShare() : meeting.startScreenShare();
    action.catch((e: unknown) => { if (!(e instanceof DOMException && e.name === 'NotAllowedError')) toast(`Screen sharing failed: ${String(e)}`); });
  });
  peopleButton.addEventListener('click', () => { panel = panel === 'people' ? null : 'people'; update(); });
  chatButton.addEventListener('click', () => { panel = panel === 'chat' ? null : 'chat'; update(); });
  securityButton.addEventListener('click', () => { panel = panel === 'security' ? null : 'security'; update(); });
  leaveButton.addEventListener('click', () => {
    if (meeting === main) meeting.leave();
    else void main.breakouts.returnToMain(null);
  });
  settingsButton.addEventListener('click', () => void openSettings());

  let preferredCamera: string | undefined;

  async function openSettings(): Promise<void> {
    const { cameras, microphones } = await listDevices();
    const currentCam = meeting.local.video?.getSettings().deviceId;
    const currentMic = meeting.local.audio?.getSettings().deviceId;
    const cam = h('select', { id: 'settings-camera', 'data-testid': 'settings-camera' }, ...cameras.map((d, i) => h('option', { value: d.deviceId, selected: d.deviceId === currentCam }, deviceLabel(d, i))));
    const mic = h('select', { id: 'settings-mic', 'data-testid': 'settings-mic' }, ...microphones.map((d, i) => h('option', { value: d.deviceId, selected: d.deviceId === currentMic }, deviceLabel(d, i))));
    cam.addEventListener('change', async () => {
      preferredCamera = cam.value;
      if (meeting.cameraOff) return;
      const track = await openCamera(cam.value);
      if (track) await meeting.switchCamera(track);
    });
    mic.addEventListener('change', async () => {
      const track = await openMicrophone(mic.value);
      if (track) await meeting.switchMicrophone(track);
    });
    settings.replaceChildren(
      h('div', { class: 'dialog-head' }, h('h2', { id: 'settings-title' }, 'Camera and microphone'),
        h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close', onclick: () => settings.close() }, icon('close'))),
      h('div', { class: 'field' }, h('label', { for: 'settings-camera' }, 'Camera'), cam),
      h('div', { class: 'field' }, h('label', { for: 'settings-mic' }, 'Microphone'), mic),
      h('p', { class: 'fineprint' }, 'Switching devices keeps the call running; nothing is renegotiated.'));
    settings.showModal();
  }

  // --- panels ---
  // Rebuilt only when what it shows changed, so focus and screen readers are not disturbed.
  let panelKey = '';
  function renderPanel(): void {
    sidePanel.hidden = panel === null;
    screen.classList.toggle('panel-open', panel !== null);
    meeting.chatVisible = panel === 'chat';
    meeting.pollsVisible = panel === 'polls';
    if (panel === null) { panelKey = ''; return; }
    if (panel === 'polls') {
      if (panelKey !== 'polls') sidePanel.replaceChildren(panelHead('Polls'), polls.el);
      panelKey = 'polls';
      return;
    }
    if (panel === 'breakouts') {
      if (panelKey !== 'breakouts') sidePanel.replaceChildren(panelHead('Breakout rooms'), breakouts.el);
      panelKey = 'breakouts';
      return;
    }
    if (panel === 'recordings') {
      if (panelKey !== 'recordings') {
        sidePanel.replaceChildren(panelHead('Recordings'), recording.el);
        void meeting.recordingLibrary.refresh();
      }
      panelKey = 'recordings';
      return;
    }
    if (panel === 'chat') {
      // Kept, not rebuilt: what the user is typing stays.
      if (panelKey !== 'chat') sidePanel.replaceChildren(panelHead('Chat'), chat.el);
      panelKey = 'chat';
      meeting.chat.markRead();
      chat.update();
      return;
    }
    const key = [panel, meeting.epoch?.epoch, verifiedNonce, ...meeting.roster.map((m) => `${m.leaf}:${m.name}:${m.fingerprint}:${m.orgIdentity ?? ''}:${m.orgBinding}`),
      ...[...meeting.remotes.values()].map((p) => p.name),
      meeting.role, meeting.roomSettings.locked, meeting.roomSettings.passwordRequired, meeting.roomSettings.lobby,
      meeting.roomSettings.waitForModerator, meeting.moderatorKey !== null,
      JSON.stringify(meeting.roomSettings.permissions), meeting.mutedByModerator,
      ...meeting.lobby.map((p) => `lobby:${p.id}:${p.display_name}:${p.fingerprint ?? ''}`), ...[...meeting.admitting].map((id) => `admitting:${id}`),
      ...meeting.serverParticipants.map((p) => `${p.id}:${p.display_name}:${p.role ?? ''}:${p.muted ?? false}:${p.account ?? ''}`), ...removing].join('|');
    if (key === panelKey) return;
    panelKey = key;
    const body = panel === 'people' ? peoplePanel() : securityPanel();
    sidePanel.replaceChildren(panelHead(panel === 'people' ? 'People' : 'Security'), body);
  }

  function panelHead(title: string): HTMLElement {
    const close = h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close panel', onclick: () => { panel = null; update(); } }, icon('close'));
    return h('div', { class: 'panel-head' }, h('h2', {}, title), close);
  }

  /** The server's participant behind each roster member, paired by signature-key fingerprint
   *  (the server reports each participant's once it has seen its key), never by name: two
   *  people may share a name, and moderation names the server's ids. */
  function serverPeopleByLeaf(): Map<number, ParticipantInfo> {
    const out = new Map<number, ParticipantInfo>();
    for (const m of meeting.roster) {
      if (m.leaf === meeting.epoch?.ownLeaf) continue;
      const p = meeting.serverParticipants.find((o) => o.id !== meeting.participantId && o.fingerprint === m.fingerprint);
      if (p) out.set(m.leaf, p);
    }
    return out;
  }

  function peoplePanel(): HTMLElement {
    const roster = meeting.roster;
    const ownLeaf = meeting.epoch?.ownLeaf;
    const moderator = meeting.isModerator;
    const byLeaf = serverPeopleByLeaf();
    const unlisted = new Set(meeting.unlistedMembers().map((m) => m.fingerprint));
    const outsiders = [...meeting.remotes.values()].filter((p) => meeting.epoch && !p.member);
    return h('div', { class: 'panel-body' },
      lobbyList({ meeting, toast, update }),
      hands.list,
      moderator ? roomAccessCard() : null,
      h('p', { class: 'muted small' }, 'Names and keys from the encrypted group itself; who is signed in, from the server.'),
      h('ul', { class: 'people-list', 'data-testid': 'participant-list' }, ...roster.map((m) => {
        const v = verification(m.name, m.fingerprint);
        const self = m.leaf === ownLeaf;
        const info = byLeaf.get(m.leaf);
        // The room policy in the group names moderators by key; the server's roles do not count.
        const isMod = meeting.epoch?.policy.moderators.includes(m.fingerprint) ?? false;
        const muted = self ? meeting.mutedByModerator : info?.muted === true;
        const account = self ? meeting.account : info?.account;
        const guest = self ? meeting.role === 'guest' : info?.role === 'guest';
        return h('li', { class: 'person', 'data-name': m.name },
          h('div', { class: 'person-main' },
            h('span', { class: 'avatar avatar-sm' }, initials(m.name)),
            h('span', { class: 'person-name' }, m.name, self ? h('span', { class: 'muted' }, ' (you)') : null),
            isMod ? h('span', { class: 'pill mod', 'data-testid': 'moderator-badge' }, icon('star'), 'Moderator') : null,
            accountBadge(account, guest),
            orgIdentityBadge(m),
            muted ? h('span', { class: 'pill warn', 'data-testid': 'muted-badge', title: 'Muted by a moderator: nobody hears them until they unmute' }, icon('micOff'), 'Muted') : null,
            // In the encrypted group, but the server does not list them: a member it hides.
            unlisted.has(m.fingerprint) ? h('span', { class: 'pill danger', 'data-testid': 'unlisted-badge', title: 'This key is in the encrypted group, but the server lists nobody with it' }, 'Not listed by the server') : null,
            v === 'verified' ? h('span', { class: 'pill ok' }, icon('check'), 'Verified') : v === 'changed' ? h('span', { class: 'pill danger' }, 'Key changed') : null),
          moderator && !self && info ? personActions(info) : null);
      })),
      roster.length === 0 ? h('p', { class: 'muted' }, 'Setting up encryption…') : null,
      outsiders.length ? h('div', { class: 'outsiders' },
        h('h3', {}, 'Connected, not in the encrypted group'),
        h('p', { class: 'muted small' }, 'They cannot see or hear anything until the group adds them.'),
        h('ul', { class: 'people-list' }, ...outsiders.map((p) => {
          const info = meeting.serverParticipants.find((s) => s.id === p.id);
          return h('li', { class: 'person', 'data-name': p.name },
            h('div', { class: 'person-main' }, h('span', { class: 'avatar avatar-sm' }, initials(p.name)), h('span', { class: 'person-name' }, p.name)),
            moderator && info ? personActions(info) : null);
        }))) : null,
      moderator ? permissionsCard(meeting, toast) : null,
      moderator ? h('button', {
        type: 'button', class: 'btn btn-danger btn-block', 'data-testid': 'end-meeting-button', onclick: () => openEndMeetingDialog(),
      }, icon('power'), 'End meeting for everyone') : null);
  }

  /** A moderator's room controls: lock, password, lobby, "wait for a moderator", host link. */
  function roomAccessCard(): HTMLElement {
    const { locked, passwordRequired, lobby, waitForModerator } = meeting.roomSettings;
    const state = (locked ? 'Locked: nobody new can join.'
      : passwordRequired && lobby ? 'New joiners need the password, then wait in the lobby.'
      : passwordRequired ? 'New joiners need the password.'
      : lobby ? 'New joiners wait in the lobby until a moderator lets them in.'
      : 'Anyone with the link can join.')
      + (waitForModerator && !locked ? ' Nobody joins while no moderator is here.' : '');
    return h('section', { class: 'access-card', 'aria-labelledby': 'access-title', 'data-testid': 'room-controls' },
      h('div', { class: 'access-head' },
        h('h3', { id: 'access-title' }, 'Room access'),
        h('span', { class: 'pill mod' }, icon('star'), 'You moderate')),
      h('p', { class: `access-state${locked ? ' locked' : ''}`, 'data-testid': 'room-access-state' }, icon(locked ? 'lock' : passwordRequired ? 'key' : 'unlock'), state),
      h('div', { class: 'access-actions' },
        h('button', {
          type: 'button', class: `btn btn-small${locked ? ' btn-warn' : ''}`, 'data-testid': 'lock-button', 'aria-pressed': String(locked),
          onclick: () => { meeting.setLocked(!locked); toast(locked ? 'Unlocking the room…' : 'Locking the room…'); },
        }, icon(locked ? 'unlock' : 'lock'), locked ? 'Unlock room' : 'Lock room'),
        h('button', {
          type: 'button', class: 'btn btn-small', 'data-testid': 'set-password-button', onclick: () => openPasswordDialog(),
          title: passwordRequired ? 'Change or remove the room password' : 'Set a room password',
        }, icon('key'), passwordRequired ? 'Change password' : 'Set password'),
        h('button', {
          type: 'button', class: `btn btn-small${lobby ? ' btn-on' : ''}`, 'data-testid': 'lobby-toggle', 'aria-pressed': String(lobby),
          title: lobby ? 'Turning the lobby off lets everyone waiting in' : 'New joiners wait until a moderator lets them in',
          onclick: () => { meeting.setLobby(!lobby); toast(lobby ? 'Turning the lobby off…' : 'Turning the lobby on…'); },
        }, icon('door'), lobby ? 'Lobby on' : 'Lobby off'),
        h('button', {
          type: 'button', class: `btn btn-small btn-wide${waitForModerator ? ' btn-on' : ''}`, 'data-testid': 'wait-for-moderator-toggle', 'aria-pressed': String(waitForModerator),
          title: waitForModerator ? 'Turning it off lets everyone waiting for a moderator in, and hands moderation on when the last moderator leaves'
            : 'Nobody joins while no moderator is here, and nobody becomes moderator when the last one leaves',
          onclick: () => {
            meeting.setWaitForModerator(!waitForModerator);
            toast(waitForModerator ? 'Turning “wait for a moderator” off…' : 'Nobody joins without a moderator now. Copy the host link to come back as one.');
          },
        }, icon('star'), waitForModerator ? 'Wait for moderator: on' : 'Wait for moderator: off'),
        h('button', {
          type: 'button', class: 'btn btn-small', 'data-testid': 'rotate-link-button',
          title: 'Make a new room link: whoever has only the old one waits for a moderator',
          onclick: () => toast(meeting.rotateLink() ? 'Making a new room link…' : 'Only a moderator of the encrypted meeting can replace the link.'),
        }, icon('key'), 'New room link')),
      hostLinkRow());
  }

  /** "Copy host link": the room's address with its moderator key, which makes whoever opens it
   *  a moderator. */
  function hostLinkRow(): HTMLElement | null {
    const link = meeting.hostLink;
    if (!link) return null;
    return h('div', { class: 'host-link', 'data-testid': 'host-link' },
      h('button', {
        type: 'button', class: 'btn btn-small', 'data-testid': 'copy-host-link-button',
        title: 'Copy a link that lets whoever opens it join as a moderator',
        onclick: () => {
          const copied = navigator.clipboard?.writeText(link);
          if (copied) void copied.then(() => toast('Host link copied. Whoever opens it is a moderator.'), () => showHostLink(link));
          else showHostLink(link);
        },
      }, icon('copy'), 'Copy host link'),
      h('p', { class: 'host-link-warning', 'data-testid': 'host-link-warning' }, icon('warning'),
        'Whoever has the host link is a moderator: they join past the lock, the password and the lobby, and can remove anyone. Give it only to co-hosts. When a moderator leaves or is removed while another stays, the link changes: copy it again.'));
  }

  /** Where the clipboard is out of reach: the host link in a field to copy by hand. */
  function showHostLink(link: string): void {
    const field = h('input', { id: 'host-link-field', type: 'text', readonly: true, 'data-testid': 'host-link-field', value: link, 'aria-describedby': 'host-link-field-warning' });
    modDialog.replaceChildren(
      h('div', { class: 'dialog-head' }, h('h2', { id: 'mod-dialog-title' }, 'Host link'),
        h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close', onclick: () => modDialog.close() }, icon('close'))),
      h('div', { class: 'field' }, h('label', { for: 'host-link-field' }, 'Copy this link'), field),
      h('p', { class: 'danger-text small', id: 'host-link-field-warning' }, 'Whoever has it is a moderator of this meeting.'),
      h('div', { class: 'dialog-actions' }, h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => modDialog.close() }, 'Done')));
    modDialog.showModal();
    field.select();
  }

  function personActions(p: ParticipantInfo): HTMLElement {
    const pending = removing.has(p.id);
    return h('div', { class: 'person-actions', role: 'group', 'aria-label': `Moderate ${p.display_name}` },
      h('button', {
        type: 'button', class: 'btn btn-small btn-ghost', 'data-testid': 'mute-participant-button', disabled: pending || p.muted === true,
        'aria-label': p.muted ? `${p.display_name} is muted` : `Mute ${p.display_name} for everyone`, title: 'Nobody hears them until they unmute themselves',
        onclick: () => { meeting.mute(p.id); toast(`Muting ${p.display_name}…`); },
      }, icon('micOff'), p.muted ? 'Muted' : 'Mute'),
      p.role !== 'moderator' ? h('button', {
        type: 'button', class: 'btn btn-small btn-ghost', 'data-testid': 'grant-moderator-button', disabled: pending,
        'aria-label': `Make ${p.display_name} a moderator`, title: 'They can then lock the room, set its password, and remove people',
        onclick: () => { meeting.grantModerator(p.id); toast(`Making ${p.display_name} a moderator…`); },
      }, icon('star'), 'Make moderator') : null,
      h('button', {
        type: 'button', class: 'btn btn-small btn-ghost', 'data-testid': 'kick-button', disabled: pending,
        'aria-label': `Remove ${p.display_name} from the meeting`, title: 'Remove from the meeting; they may join again',
        onclick: () => { removing.add(p.id); meeting.kick(p.id); toast(`Removing ${p.display_name}…`); update(); },
      }, icon('leave'), pending ? 'Removing…' : 'Kick'),
      h('button', {
        type: 'button', class: 'btn btn-small btn-ghost danger', 'data-testid': 'ban-button', disabled: pending,
        'aria-label': `Ban ${p.display_name} from this room`, title: 'Remove and refuse their device key for as long as the room exists',
        onclick: () => openBanDialog(p),
      }, icon('ban'), 'Ban'));
  }

  function openBanDialog(p: ParticipantInfo): void {
    const confirm = h('button', { type: 'button', class: 'btn btn-danger', 'data-testid': 'confirm-ban-button' }, icon('ban'), `Ban ${p.display_name}`);
    confirm.addEventListener('click', () => {
      modDialog.close();
      removing.add(p.id);
      meeting.ban(p.id);
      toast(`Banning ${p.display_name}…`);
      update();
    });
    modDialog.replaceChildren(
      h('div', { class: 'dialog-head' }, h('h2', { id: 'mod-dialog-title' }, `Ban ${p.display_name}?`),
        h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close', onclick: () => modDialog.close() }, icon('close'))),
      h('p', {}, `${p.display_name} is removed at once, and their device key is refused for as long as this room exists. Their keys open nothing sent after the removal.`),
      h('p', { class: 'muted small' }, p.account
        ? `They are signed in as ${p.account}: that account is banned from this room too.`
        : 'Guests have no accounts: someone banned can come back with a new key. Lock the room or set a password to keep them out.'),
      h('div', { class: 'dialog-actions' },
        h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => modDialog.close() }, 'Cancel'),
        confirm));
    modDialog.showModal();
    confirm.focus();
  }

  function openEndMeetingDialog(): void {
    const confirm = h('button', { type: 'button', class: 'btn btn-danger', 'data-testid': 'confirm-end-meeting-button' }, icon('power'), 'End for everyone');
    confirm.addEventListener('click', () => {
      modDialog.close();
      meeting.endMeeting();
      toast('Ending the meeting…');
    });
    const waiting = meeting.lobby.length;
    modDialog.replaceChildren(
      h('div', { class: 'dialog-head' }, h('h2', { id: 'mod-dialog-title' }, 'End the meeting for everyone?'),
        h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close', onclick: () => modDialog.close() }, icon('close'))),
      h('p', {}, `Everyone is disconnected at once${waiting ? `, and the ${waiting === 1 ? 'person' : `${waiting} people`} waiting in the lobby turned away` : ''}. The room's keys go with them: nothing of this meeting can be decrypted afterwards.`),
      h('div', { class: 'dialog-actions' },
        h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => modDialog.close() }, 'Cancel'),
        confirm));
    modDialog.showModal();
    confirm.focus();
  }

  function openPasswordDialog(): void {
    const hasPassword = meeting.roomSettings.passwordRequired;
    const input = h('input', { id: 'new-room-password', type: 'password', maxlength: '256', autocomplete: 'new-password', 'data-testid': 'room-password-input', required: true, 'aria-describedby': 'new-room-password-hint' });
    const show = h('input', { id: 'show-room-password', type: 'checkbox' });
    show.addEventListener('change', () => { input.type = show.checked ? 'text' : 'password'; });
    const error = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'set-password-error', hidden: true });
    const save = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'save-password-button' }, hasPassword ? 'Change password' : 'Set password');
    const remove = hasPassword ? h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'remove-password-button' }, 'Remove password') : null;
    const run = async (password: string | null) => {
      error.hidden = true;
      save.disabled = true;
      if (remove) remove.disabled = true;
      const refused = await meeting.setRoomPassword(password);
      save.disabled = false;
      if (remove) remove.disabled = false;
      if (refused) {
        error.textContent = sentence(refused);
        error.hidden = false;
        input.focus();
        return;
      }
      modDialog.close();
      toast(password === null ? 'Password removed' : 'Password set. Share it with the people you invite.');
    };
    remove?.addEventListener('click', () => void run(null));
    const form = h('form', { method: 'dialog', onsubmit: (event: Event) => {
      event.preventDefault();
      if (input.value === '') { input.focus(); return; }
      void run(input.value);
    } },
      h('div', { class: 'dialog-head' }, h('h2', { id: 'mod-dialog-title' }, 'Room password'),
        h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close', onclick: () => modDialog.close() }, icon('close'))),
      h('p', { class: 'muted small' }, 'People who join from now on must enter it; everyone here stays. The server keeps only a hash, and refuses short or common passwords.'),
      h('div', { class: 'field' }, h('label', { for: 'new-room-password' }, hasPassword ? 'New password' : 'Password'), input,
        h('label', { class: 'check', for: 'show-room-password' }, show, 'Show password')),
      error,
      h('div', { class: 'dialog-actions' }, remove, h('span', { class: 'spacer' }),
        h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => modDialog.close() }, 'Cancel'), save));
    modDialog.replaceChildren(form);
    modDialog.showModal();
    input.focus();
  }

  function securityPanel(): HTMLElement {
    const epoch = meeting.epoch;
    if (!epoch) return h('div', { class: 'panel-body' }, h('p', { class: 'muted' }, 'The security code appears once the encrypted group is set up.'), bundleCard());
    const digits = epoch.code.digits;
    // Mostly text to read: focusable, so a keyboard scrolls it (it may hold no control in view).
    return h('div', { class: 'panel-body', tabindex: 0 },
      h('section', { class: 'code-card', 'aria-labelledby': 'code-title' },
        h('h3', { id: 'code-title' }, 'Security code'),
        h('p', { class: 'muted small' }, 'Compare it with everyone, out loud or side by side. If all of you see the same code, nobody else holds the keys to this meeting.'),
        h('div', { class: 'code-digits', 'data-testid': 'security-code', 'aria-label': `Security code ${digits.split('').join(' ')}` }, ...codeRows(digits.split(' '))),
        h('div', { class: 'code-words', 'data-testid': 'security-words' }, ...codeRows(epoch.code.words)),
        h('p', { class: 'muted small' }, `Changes whenever someone joins or leaves · epoch ${epoch.epoch.toString()}`)),
      h('h3', {}, 'Participants’ keys'),
      h('ul', { class: 'key-list' }, ...epoch.roster.map((m) => keyRow(m, m.leaf === epoch.ownLeaf))),
      bundleCard());
  }

  /** The bundle hash of this page's code as the server describes it, and why that proves
   *  nothing on its own. */
  function bundleCard(): HTMLElement {
    return h('section', { class: 'bundle-card', 'aria-labelledby': 'bundle-title' },
      h('h3', { id: 'bundle-title' }, 'This page’s code'),
      h('p', { class: 'muted small' }, 'Bundle hash, as this server describes the code it serves:'),
      h('code', { class: 'fingerprint', 'data-testid': 'bundle-hash' }, bundleHash ?? (bundleHash === null ? 'not described by this server' : 'loading…')),
      h('p', { class: 'muted small' }, 'A compromised server could serve other code and still show this hash. The check that counts runs outside the browser: ',
        h('code', {}, `sealroom verify-web --server ${location.origin}`), ' with a Sealroom you built, or joining with the native client.'));
  }

  // Each part in a span with a plain space between: the text stays exactly the code, and the
  // stylesheet's grid sets the parts out in rows (the spaces between grid items take no room).
  function codeRows(parts: string[]): (HTMLElement | string)[] {
    return parts.flatMap((part, i) => (i === 0 ? [h('span', {}, part)] : [' ', h('span', {}, part)]));
  }

  function keyRow(m: RosterMember, self: boolean): HTMLElement {
    const v = verification(m.name, m.fingerprint);
    const action = self ? h('span', { class: 'pill' }, 'You')
      : v === 'verified' ? h('span', { class: 'pill ok' }, icon('check'), 'Verified')
      : h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'verify-button', 'aria-label': `Mark ${m.name} as verified`, onclick: () => { markVerified(m.name, m.fingerprint); verifiedNonce++; update(); } }, v === 'changed' ? 'Trust new key' : 'Mark verified');
    return h('li', { class: `key-row${v === 'changed' ? ' changed' : ''}`, 'data-name': m.name },
      h('div', { class: 'key-row-head' }, h('span', { class: 'person-name' }, m.name), action),
      h('code', { class: 'fingerprint', 'data-testid': 'fingerprint' }, m.fingerprint),
      v === 'changed' ? h('p', { class: 'danger-text small' }, `You verified a different key for ${m.name}. Someone else may be using this name.`) : null);
  }

  // --- banners and status ---
  function renderStatus(): void {
    const state = meeting.e2ee;
    const text = state === 'encrypted' ? 'encrypted' : state === 'waiting' ? 'securing…' : state === 'removed' ? 'not in group' : 'connecting…';
    e2eeStatus.textContent = text;
    e2eeStatus.className = `e2ee-pill ${state}`;
    e2eeStatus.title = state === 'encrypted'
      ? `End-to-end encrypted (MLS epoch ${meeting.epoch?.epoch.toString() ?? '?'}). The server cannot see or hear this meeting.`
      : 'Media is not flowing yet. Nothing is sent unencrypted.';
    e2eeStatus.setAttribute('aria-label', state === 'encrypted' ? 'End-to-end encrypted' : `Encryption: ${text}`);

    lockedPill.hidden = !meeting.roomSettings.locked;
    passwordPill.hidden = !meeting.roomSettings.passwordRequired;
    lobbyPill.hidden = !meeting.roomSettings.lobby;
    mutedPill.hidden = !meeting.mutedByModerator;

    reconnecting.hidden = meeting.connection !== 'reconnecting';
    reconnecting.textContent = meeting.connection === 'reconnecting' ? `Reconnecting… ${meeting.connectionDetail}` : '';

    const changed = meeting.roster.filter((m) => verification(m.name, m.fingerprint) === 'changed').map((m) => `${m.name}'s key differs from the one you verified.`);
    const all = [...meeting.warnings, ...changed];
    warnings.hidden = all.length === 0;
    warnings.replaceChildren(...(all.length ? [icon('warning'), h('div', {}, ...all.map((w) => h('p', {}, w)))] : []));
  }

  function renderLeft(): void {
    if (meeting.connection === 'removed') {
      const ending = removalText();
      root.replaceChildren(h('main', { class: 'center-card' }, h('div', { class: 'card removed-card', 'data-testid': 'removed-screen', 'data-reason': meeting.removedReason ?? '', role: 'alert' },
        h('span', { class: `card-icon${ending.tone === 'neutral' ? ' neutral' : ''}` }, icon(ending.icon)),
        h('h1', {}, ending.title),
        h('p', {}, ending.detail),
        h('p', { class: 'muted' }, ending.after),
        h('div', { class: 'card-actions' },
          h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'home-button', onclick: home }, 'Home')))));
      return;
    }
    root.replaceChildren(h('main', { class: 'center-card' }, h('div', { class: 'card' },
      h('h1', {}, meeting.connection === 'failed' ? 'Could not join' : 'You left the meeting'),
      meeting.connection === 'failed' ? h('p', {}, meeting.connectionDetail) : h('p', { class: 'muted' }, 'The keys you used are gone with you; nobody can use them to look back.'),
      h('div', { class: 'card-actions' },
        h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'rejoin-button', onclick: () => location.reload() }, 'Rejoin'),
        h('button', { type: 'button', class: 'btn btn-secondary', onclick: home }, 'Home')))));
  }

  /** What the screen that ends the meeting says, by why the server removed us. */
  function removalText(): { title: string; detail: string; after: string; icon: 'ban' | 'leave' | 'door' | 'power'; tone: 'danger' | 'neutral' } {
    const offMedia = 'Your camera and microphone are off, and you are out of the encrypted group: nothing said from now on can be decrypted with your keys.';
    switch (meeting.removedReason) {
      case 'denied':
        return { title: 'A moderator did not let you in', detail: `You were turned away from the lobby of ${room}.`,
          after: 'Nothing of the meeting reached this device, and your camera and microphone are off.', icon: 'door', tone: 'danger' };
      case 'meeting_ended':
        return meeting.endedByUs
          ? { title: 'You ended the meeting for everyone', detail: 'Everyone was disconnected, and those waiting in the lobby turned away.', after: offMedia, icon: 'power', tone: 'neutral' }
          : { title: 'The meeting has ended', detail: 'A moderator ended it for everyone.', after: meeting.removedFromLobby ? 'You were still waiting in the lobby; nothing of the meeting reached this device.' : offMedia, icon: 'power', tone: 'neutral' };
      case 'banned':
        return meeting.removedFromLobby
          ? { title: 'A moderator turned you away again', detail: 'This device is now banned from this room.', after: 'Nothing of the meeting reached this device, and your camera and microphone are off.', icon: 'ban', tone: 'danger' }
          : { title: 'You were removed from the meeting by a moderator', detail: 'You were banned: this device cannot join this room again.', after: offMedia, icon: 'ban', tone: 'danger' };
      default:
        return { title: 'You were removed from the meeting by a moderator', detail: 'You can only rejoin if the room lets you in again.', after: offMedia, icon: 'leave', tone: 'danger' };
    }
  }

  /** Moderators: each new knock is announced once (the People button also shows the count). */
  function announceKnocks(): void {
    const fresh = meeting.isModerator ? meeting.lobby.filter((p) => !knocks.has(p.id)) : [];
    for (const p of meeting.lobby) knocks.add(p.id);
    if (fresh.length === 1 && fresh[0]) toast(`${fresh[0].display_name} is waiting in the lobby`);
    else if (fresh.length > 1) toast(`${fresh.length} people are waiting in the lobby`);
  }

  /** Whether another room's screen took over from this one. */
  let replaced = false;
  /** Shows the room we are in now, if it is not this one: true if it did. */
  function followRoom(): boolean {
    const current = main.breakouts.current?.meeting;
    if (meeting !== main && current === meeting && ['left', 'failed', 'removed'].includes(meeting.connection)) {
      void main.breakouts.returnToMain(`You are out of the breakout room (${meeting.connectionDetail || meeting.removedReason || meeting.connection}): back in the main room.`);
      return false;
    }
    const elsewhere = meeting === main ? current : current !== meeting ? main : undefined;
    if (!elsewhere || replaced) return replaced;
    replaced = true;
    renderMeeting(root, elsewhere, home, main);
    return true;
  }

  let scheduled = false;
  function update(): void {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      if (followRoom()) return;
      if (meeting.connection === 'left' || meeting.connection === 'failed' || meeting.connection === 'removed') { renderLeft(); return; }
      if (meeting.inLobby) {
        if (lobbyScreen.el.parentElement !== root) { root.replaceChildren(lobbyScreen.el); lobbyScreen.el.append(toastEl); }
        lobbyScreen.update();
        return;
      }
      if (screen.parentElement !== root) { root.replaceChildren(screen); screen.append(toastEl); }
      announceKnocks();
      // Someone we asked to remove is gone from the server's list.
      for (const id of removing) if (!meeting.serverParticipants.some((p) => p.id === id)) removing.delete(id);
      renderTiles();
      hands.update();
      renderPanel();
      renderControls();
      renderStatus();
    });
  }

  let toastTimer = 0;
  function toast(text: string): void {
    toastEl.textContent = text;
    toastEl.hidden = false;
    window.clearTimeout(toastTimer);
    toastTimer = window.setTimeout(() => { toastEl.hidden = true; }, 3000);
  }

  meeting.onChange = update;
  meeting.onServerError = (code, message) => {
    // A refused kick or ban leaves its target as it was.
    removing.clear();
    update();
    // `forbidden` says what was refused (a moderator's action, or what the room's permissions
    // leave out for our role, such as a screen share).
    toast(code === 'unknown_participant' ? 'That person is no longer in the meeting.'
      : sentence(message || (code === 'forbidden' ? 'Only moderators can do that' : code)));
  };
  meeting.onNotice = toast;
  meeting.onReaction = reactions.show;
  // In a breakout room, the main room's word (broadcasts, the call back) reaches this screen.
  if (main !== meeting) {
    main.onChange = update;
    main.onNotice = toast;
  }
  // The countdown ticks while the rooms have a timer and this screen shows.
  const ticker = window.setInterval(() => {
    if (replaced) window.clearInterval(ticker);
    else if (main.breakouts.plan?.endsAt) update();
  }, 1000);

  if (SEALROOM_TEST_HOOKS) exposeToTests(meeting, main);
  update();
}

/** The tests' handle on the meeting: the meeting object itself (the wasm core's handle and the
 *  moderator key through it) and a plain snapshot of its state. */
function exposeToTests(meeting: Meeting, main: Meeting): void {
  window.sealroomDebug = {
    meeting,
    main,
    pc: () => meeting.peerConnection,
    state: () => ({
      connection: meeting.connection,
      resumes: meeting.resumes,
      iceRestarts: meeting.iceRestarts,
      participantId: meeting.participantId,
      role: meeting.role,
      account: meeting.account,
      roomSettings: meeting.roomSettings,
      removedReason: meeting.removedReason,
      inLobby: meeting.inLobby,
      lobbyWait: meeting.lobbyWait,
      lobby: meeting.lobby,
      mutedByModerator: meeting.mutedByModerator,
      fingerprint: meeting.fingerprint,
      epoch: meeting.epoch ? Number(meeting.epoch.epoch) : null,
      ownLeaf: meeting.epoch?.ownLeaf ?? null,
      roster: meeting.roster,
      code: meeting.epoch?.code ?? null,
      e2ee: meeting.e2ee,
      warnings: meeting.warnings,
      errors: meeting.errors,
      worker: meeting.workerStats ? JSON.parse(JSON.stringify(meeting.workerStats, (_, v) => (typeof v === 'bigint' ? Number(v) : v))) : null,
      chat: meeting.chat.lines,
      chatUnread: meeting.chat.unread,
      privateMessagesNotForUs: meeting.privateMessagesNotForUs,
      hands: meeting.interactions.hands.map((hand) => hand.name),
      polls: [...meeting.interactions.polls.values()],
      votesNotForUs: meeting.votesNotForUs,
      recordings: meeting.recordings,
      breakouts: { plan: main.breakouts.plan, current: main.breakouts.current?.label ?? null, broadcasts: main.breakouts.broadcasts, helpWanted: main.breakouts.helpWanted, mainCode: main.epoch?.code ?? null },
      recorder: { state: meeting.recorder.state, error: meeting.recorder.error, uploaded: meeting.recorder.uploaded },
      files: meeting.files.list.map(({ id, incoming, from, name, size, done, state, error }) => ({ id, incoming, from, name, size, done, state, error })),
      remotes: [...meeting.remotes.values()].map((p) => ({ id: p.id, name: p.name, audioLevel: p.audioLevel, mids: Object.fromEntries(Object.entries(p.tracks).map(([k, v]) => [k, v?.mid])), cameraLive: p.cameraLive, screenLive: p.screenLive })),
    }),
  };
}

/** A server message as a sentence: capitalised, with a full stop. */
function sentence(text: string): string {
  const t = text.trim();
  if (!t) return t;
  return t.charAt(0).toUpperCase() + t.slice(1) + (/[.!?]$/.test(t) ? '' : '.');
}

function controlButton(testid: string, label: string, iconName: 'mic' | 'camera' | 'screen' | 'settings' | 'people' | 'chat' | 'shield', text: string): HTMLButtonElement {
  return h('button', { type: 'button', class: 'ctrl', 'data-testid': testid, 'aria-label': label, title: label }, icon(iconName), h('span', { class: 'ctrl-label' }, text));
}

function setControl(button: HTMLButtonElement, off: boolean, label: string, iconName: 'mic' | 'micOff' | 'camera' | 'cameraOff' | 'screen', text: string): void {
  button.setAttribute('aria-label', label);
  button.title = label;
  button.classList.toggle('off', off);
  if (button.dataset.icon !== iconName) {
    button.replaceChildren(icon(iconName), h('span', { class: 'ctrl-label' }, text));
    button.dataset.icon = iconName;
  } else {
    (button.lastChild as HTMLElement).textContent = text;
  }
  if (iconName === 'mic' || iconName === 'micOff' || iconName === 'camera' || iconName === 'cameraOff') button.setAttribute('aria-pressed', String(off));
}
