// The pre-join screen: camera preview, microphone level, device choice and display name.
// Joining is tried from here (`attempt`): a refusal (locked room, password, rate limit, ban)
// is shown on this screen, with a password field once the server asked for one, and the user
// may try again. Opened from a host link, it says so; a refused host link is said once, and the
// next attempt joins like anyone. It says whether we join signed in or as a guest. Resolves with
// what the successful attempt returned.

import { type SessionStatus, currentSession } from '../account';
import { LevelMeter, deviceLabel, listDevices, openCamera, openMicrophone } from '../devices';
import type { JoinRefusal } from '../meeting';
import { isValidDisplayName } from '../protocol';
import { brand } from './home';
import { h, icon } from './dom';

export interface PrejoinChoice {
  displayName: string;
  audio: MediaStreamTrack | null;
  video: MediaStreamTrack | null;
  micMuted: boolean;
  cameraOff: boolean;
  /** The room password, if the user gave one. */
  password: string | null;
}

export interface PrejoinOptions {
  /** Opened from a host link: with a key (`valid`), or a `#host=` fragment that held none. */
  hostLink: 'valid' | 'malformed' | null;
}

export type JoinAttempt<T> = (choice: PrejoinChoice) => Promise<{ ok: true; value: T } | { ok: false; refusal: JoinRefusal }>;

const NAME_KEY = 'sealroom.displayName';

export function renderPrejoin<T>(root: HTMLElement, room: string, options: PrejoinOptions, attempt: JoinAttempt<T>): Promise<T> {
  return new Promise((resolve) => {
    let audio: MediaStreamTrack | null = null;
    let video: MediaStreamTrack | null = null;
    let micMuted = false;
    let cameraOff = false;
    const meter = new LevelMeter();
    let raf = 0;

    const preview = h('video', { class: 'preview-video', autoplay: true, playsinline: true, muted: true, 'aria-label': 'Your camera preview' });
    preview.muted = true;
    const placeholder = h('div', { class: 'preview-placeholder' }, h('span', { class: 'avatar avatar-lg' }, '?'), h('span', {}, 'Camera is off'));
    const meterBar = h('div', { class: 'meter-fill' });
    const meterEl = h('div', { class: 'meter', role: 'meter', 'aria-label': 'Microphone level', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0' }, meterBar);
    const cameraSelect = h('select', { id: 'camera-select', 'data-testid': 'camera-select' });
    const micSelect = h('select', { id: 'mic-select', 'data-testid': 'mic-select' });
    const nameInput = h('input', {
      id: 'display-name', type: 'text', maxlength: '64', 'data-testid': 'display-name-input', autocomplete: 'name',
      placeholder: 'Your name', required: true,
    });
    nameInput.value = localStorage.getItem(NAME_KEY) ?? '';
    const error = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'join-error', hidden: true });
    const passwordInput = h('input', {
      id: 'room-password', type: 'password', maxlength: '256', 'data-testid': 'password-input', autocomplete: 'off',
      placeholder: 'Room password', 'aria-describedby': 'room-password-hint',
    });
    const passwordField = h('div', { class: 'field', hidden: true },
      h('label', { for: 'room-password' }, 'Room password'), passwordInput,
      h('p', { class: 'field-hint', id: 'room-password-hint' }, 'Ask the person who invited you. A locked room lets nobody in until a moderator unlocks it, password or not.'));
    const hostNote = h('p', { class: 'host-note', 'data-testid': 'host-link-note', hidden: options.hostLink !== 'valid' },
      icon('star'), 'You are joining with a host link: as a moderator, past the lock, the password and the lobby.');
    const accountNote = h('p', { class: 'account-note', 'data-testid': 'prejoin-account', role: 'status' });
    const showAccount = (session: SessionStatus) => {
      accountNote.dataset.state = session.signedIn ? 'signed-in' : 'signed-out';
      accountNote.replaceChildren(icon(session.signedIn ? 'check' : 'people'), session.signedIn
        ? `Signed in as ${session.username}: you join as a member.`
        : session.expired ? 'Your sign-in has expired: you join as a guest. Sign in again on the home page to join as a member.'
        : 'You join as a guest. Sign in on the home page to join as a member.');
    };
    void currentSession().then(showAccount);
    let busy = false;
    let blocked = false;
    let countdown = 0;
    const setError = (text: string) => {
      error.textContent = text;
      error.hidden = text === '';
    };
    const setJoinButton = (text: string, disabled: boolean) => {
      joinButton.textContent = text;
      joinButton.disabled = disabled;
    };
    /** Refused for too many attempts: wait it out, with the seconds counting down. */
    const waitOut = (ms: number) => {
      window.clearInterval(countdown);
      const until = performance.now() + ms;
      const tick = () => {
        const left = Math.ceil((until - performance.now()) / 1000);
        if (left <= 0) {
          window.clearInterval(countdown);
          setError('');
          setJoinButton('Join meeting', blocked);
          return;
        }
        setError(`Too many attempts, try again in ${left} s.`);
        setJoinButton(`Try again in ${left} s`, true);
      };
      tick();
      countdown = window.setInterval(tick, 250);
    };
    const showRefusal = (refusal: JoinRefusal) => {
      switch (refusal.code) {
        case 'host_link_refused':
          hostNote.hidden = true;
          setError('This host link did not work: the meeting it was made for has ended, or the link is wrong. You can still join, without moderating.');
          setJoinButton('Join without moderating', false);
          break;
        case 'session_expired':
          showAccount({ signedIn: false, expired: true });
          setError('Your sign-in has expired, so you are signed out now. Join as a guest, or sign in again on the home page.');
          setJoinButton('Join as a guest', false);
          break;
        case 'access_denied':
          passwordField.hidden = false;
          setError('This room is locked or needs a password.');
          setJoinButton('Join meeting', false);
          passwordInput.focus();
          passwordInput.select();
          break;
        case 'sign_in_required':
          setError('This organisation lets only signed-in people join. Sign in on the home page, then join.');
          setJoinButton('Join meeting', false);
          break;
        case 'rate_limited':
          waitOut(refusal.retryAfterMs);
          break;
        case 'banned':
          blocked = true;
          setError('A moderator banned you from this room. You cannot join it.');
          setJoinButton('Cannot join', true);
          break;
        case 'unreachable':
          setError('Could not reach the server. Check your connection and try again.');
          setJoinButton('Join meeting', false);
          break;
        case 'invalid':
          setError(refusal.message);
          setJoinButton('Join meeting', false);
          break;
      }
    };
    const micToggle = h('button', { type: 'button', class: 'round-btn', 'aria-pressed': 'false', 'aria-label': 'Mute microphone', 'data-testid': 'prejoin-mute-button' }, icon('mic'));
    const camToggle = h('button', { type: 'button', class: 'round-btn', 'aria-pressed': 'false', 'aria-label': 'Turn camera off', 'data-testid': 'prejoin-camera-button' }, icon('camera'));
    const joinButton = h('button', { type: 'submit', class: 'btn btn-primary btn-lg btn-block', 'data-testid': 'join-button', disabled: true }, 'Starting camera…');

    const refreshPreview = () => {
      preview.srcObject = video && !cameraOff ? new MediaStream([video]) : null;
      placeholder.hidden = !!video && !cameraOff;
      const initial = nameInput.value.trim()[0]?.toUpperCase() ?? '?';
      (placeholder.firstChild as HTMLElement).textContent = initial;
      micToggle.replaceChildren(icon(micMuted ? 'micOff' : 'mic'));
      micToggle.setAttribute('aria-pressed', String(micMuted));
      micToggle.setAttribute('aria-label', micMuted ? 'Unmute microphone' : 'Mute microphone');
      micToggle.classList.toggle('off', micMuted);
      camToggle.replaceChildren(icon(cameraOff ? 'cameraOff' : 'camera'));
      camToggle.setAttribute('aria-pressed', String(cameraOff));
      camToggle.setAttribute('aria-label', cameraOff ? 'Turn camera on' : 'Turn camera off');
      camToggle.classList.toggle('off', cameraOff);
      if (audio) audio.enabled = !micMuted;
    };

    const fillDevices = async () => {
      const { cameras, microphones } = await listDevices();
      const fill = (select: HTMLSelectElement, devices: MediaDeviceInfo[], current: MediaStreamTrack | null, none: string) => {
        const selected = current?.getSettings().deviceId;
        select.replaceChildren(...(devices.length ? devices : [null]).map((d, i) =>
          d ? h('option', { value: d.deviceId, selected: d.deviceId === selected }, deviceLabel(d, i)) : h('option', { value: '' }, none)));
        select.disabled = devices.length === 0;
      };
      fill(cameraSelect, cameras, video, 'No camera found');
      fill(micSelect, microphones, audio, 'No microphone found');
    };

    const meterLoop = () => {
      const level = micMuted ? 0 : meter.level();
      meterBar.style.transform = `scaleX(${level.toFixed(3)})`;
      meterEl.setAttribute('aria-valuenow', String(Math.round(level * 100)));
      raf = requestAnimationFrame(meterLoop);
    };

    cameraSelect.addEventListener('change', async () => {
      const track = await openCamera(cameraSelect.value);
      if (track) { video?.stop(); video = track; cameraOff = false; }
      refreshPreview();
    });
    micSelect.addEventListener('change', async () => {
      const track = await openMicrophone(micSelect.value);
      if (track) { audio?.stop(); audio = track; meter.attach(track); }
      refreshPreview();
    });
    micToggle.addEventListener('click', () => { micMuted = !micMuted; refreshPreview(); });
    camToggle.addEventListener('click', async () => {
      cameraOff = !cameraOff;
      if (cameraOff) { video?.stop(); video = null; }
      else if (!video) { video = await openCamera(cameraSelect.value || undefined); cameraOff = !video; }
      refreshPreview();
    });
    nameInput.addEventListener('input', refreshPreview);

    const form = h('form', { class: 'join-card', 'aria-labelledby': 'prejoin-title', onsubmit: async (event: Event) => {
      event.preventDefault();
      if (busy || blocked || joinButton.disabled) return;
      const displayName = nameInput.value.trim();
      if (!isValidDisplayName(displayName)) {
        setError('Enter the name others will see (up to 64 characters).');
        nameInput.focus();
        return;
      }
      localStorage.setItem(NAME_KEY, displayName);
      busy = true;
      setError('');
      setJoinButton('Joining…', true);
      // The attempt uses the tracks as they are now: no device changes until it is answered.
      const inputs = [cameraSelect, micSelect, camToggle, micToggle, nameInput, passwordInput];
      const wasDisabled = inputs.map((el) => el.disabled);
      for (const el of inputs) el.disabled = true;
      const password = passwordField.hidden || passwordInput.value === '' ? null : passwordInput.value;
      const result = await attempt({ displayName, audio, video: cameraOff ? null : video, micMuted, cameraOff, password });
      busy = false;
      inputs.forEach((el, i) => { el.disabled = wasDisabled[i] ?? false; });
      if (!result.ok) {
        showRefusal(result.refusal);
        return;
      }
      window.clearInterval(countdown);
      cancelAnimationFrame(raf);
      meter.close();
      resolve(result.value);
    } },
      h('h1', { id: 'prejoin-title' }, 'Ready to join?'),
      h('p', { class: 'room-label' }, h('span', { class: 'muted' }, 'Room '), h('code', { class: 'room-name', 'data-testid': 'room-name' }, room)),
      accountNote,
      h('div', { class: 'field' }, h('label', { for: 'display-name' }, 'Your name'), nameInput),
      h('div', { class: 'field' }, h('label', { for: 'camera-select' }, 'Camera'), cameraSelect),
      h('div', { class: 'field' }, h('label', { for: 'mic-select' }, 'Microphone'), micSelect),
      hostNote,
      passwordField,
      error,
      joinButton,
      h('p', { class: 'fineprint' }, icon('lock'), 'End-to-end encrypted. The server relays your audio and video without being able to see or hear it.'));

    root.replaceChildren(h('div', { class: 'prejoin' },
      h('header', { class: 'home-header' }, brand()),
      h('main', { class: 'prejoin-main' },
        h('section', { class: 'preview-card', 'aria-label': 'Preview' },
          preview, placeholder,
          h('div', { class: 'preview-controls' }, micToggle, camToggle),
          h('div', { class: 'preview-meter' }, icon('mic'), meterEl)),
        form)));

    void (async () => {
      [audio, video] = await Promise.all([openMicrophone(), openCamera()]);
      meter.attach(audio);
      refreshPreview();
      await fillDevices();
      meterLoop();
      setJoinButton('Join meeting', false);
      if (options.hostLink === 'malformed') setError('This host link is incomplete, so you would join without moderating. Ask for the link again to join as a moderator.');
      if (!nameInput.value) nameInput.focus();
    })();
    refreshPreview();
  });
}
