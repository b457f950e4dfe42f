// Recording in the meeting view: the indicator every participant sees while anyone records
// (named from the recorders' MLS credentials, with the fingerprints of the keys that can open
// each recording), the Record button for those the room's permissions let record, and the
// Recordings panel, where this browser's owner key lists, decrypts, plays and saves the
// recordings sealed to it. Built once and updated in place.

import type { Meeting } from '../meeting';
import type { StoredRecording } from '../recording';
import { h, icon } from './dom';

type Toast = (text: string) => void;

export interface RecordingControls {
  /** The topbar's "Recording" pill: shown to everyone while anyone records. */
  indicator: HTMLElement;
  /** The control bar's Record / Stop button. */
  button: HTMLButtonElement;
  /** The control bar's button for the Recordings panel. */
  libraryButton: HTMLButtonElement;
  /** The Recordings panel's body. */
  el: HTMLElement;
  update(open: boolean): void;
}

export function recordingControls(meeting: Meeting, toast: Toast, toggle: () => void): RecordingControls {
  const indicatorText = h('span', { class: 'room-pill-label' });
  const indicator = h('span', { class: 'room-pill recording', 'data-testid': 'recording-indicator', role: 'status', 'aria-live': 'polite', hidden: true },
    icon('record'), indicatorText);
  const label = h('span', { class: 'ctrl-label' }, 'Record');
  const button = h('button', { type: 'button', class: 'ctrl', 'data-testid': 'record-button', 'aria-label': 'Record the meeting, end-to-end encrypted' }, icon('record'), label);
  button.addEventListener('click', () => {
    const recorder = meeting.recorder;
    void (recorder.state === 'recording' ? recorder.stop() : recorder.start()).then(() => {
      if (recorder.error) toast(`Recording: ${recorder.error}`);
    });
  });
  const libraryButton = h('button', { type: 'button', class: 'ctrl', 'data-testid': 'recordings-button', 'aria-label': 'Show your recordings', title: 'Your recordings', onclick: toggle },
    icon('film'), h('span', { class: 'ctrl-label' }, 'Recordings'));
  const library = libraryPanel(meeting);

  function update(open: boolean): void {
    const active = meeting.recordings;
    indicator.hidden = active.length === 0;
    indicatorText.textContent = `Recording: ${active.map((r) => (r.mine ? 'you' : r.recorderName)).join(', ')}`;
    indicator.title = active.map((r) => `${r.recorderName} records for the keys ${r.owners.join(', ')}`).join('\n');
    const state = meeting.recorder.state;
    button.hidden = !meeting.mayRecord && state === 'idle';
    button.disabled = state === 'starting' || state === 'stopping';
    button.classList.toggle('active', state === 'recording');
    button.setAttribute('aria-pressed', String(state === 'recording'));
    label.textContent = state === 'recording' ? 'Stop' : state === 'stopping' ? 'Saving' : 'Record';
    libraryButton.classList.toggle('active', open);
    libraryButton.setAttribute('aria-pressed', String(open));
    if (open) library.update();
  }
  return { indicator, button, libraryButton, el: library.el, update };
}

function libraryPanel(meeting: Meeting): { el: HTMLElement; update(): void } {
  const list = h('ul', { class: 'file-list', 'aria-label': 'Your recordings', 'data-testid': 'recording-list' });
  const status = h('p', { class: 'muted small', role: 'status', 'data-testid': 'recording-library-status' });
  const refresh = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'recordings-refresh', onclick: () => void meeting.recordingLibrary.refresh() }, 'Refresh');
  const el = h('div', { class: 'panel-body files' },
    h('p', { class: 'muted small' }, 'Recordings are encrypted to this browser’s recording key before they leave the recorder: only this browser (and any other owner named when recording) can open them; the server keeps ciphertext.'),
    refresh, status, list);
  let shownKey = '';
  function update(): void {
    const lib = meeting.recordingLibrary;
    status.textContent = lib.error ?? (lib.busy ? 'Working…' : `${lib.recordings.length} recording(s).`);
    const key = JSON.stringify([lib.recordings, [...lib.opened.keys()], lib.busy]);
    if (key === shownKey) return;
    shownKey = key;
    list.replaceChildren(...lib.recordings.map((r) => recordingRow(meeting, r)));
  }
  return { el, update };
}

function recordingRow(meeting: Meeting, recording: StoredRecording): HTMLElement {
  const lib = meeting.recordingLibrary;
  const opened = lib.opened.get(recording.id);
  const when = new Date(recording.created_at);
  const actions = opened
    ? [h('video', { controls: true, src: opened.url, class: 'recording-player', 'data-testid': 'recording-player' }),
      h('a', { class: 'btn btn-small', href: opened.url, download: opened.name, 'data-testid': 'recording-save' }, 'Save')]
    : [h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'recording-open', disabled: lib.busy !== null, onclick: () => void lib.open(recording.id) }, 'Decrypt and play')];
  return h('li', { class: 'file-row', 'data-testid': 'recording-row', 'data-id': recording.id },
    h('div', { class: 'chat-meta' },
      h('span', { class: 'chat-from' }, recording.room),
      h('time', { datetime: when.toISOString() }, when.toLocaleString()),
      h('span', { class: 'muted' }, `${(recording.size / 1e6).toFixed(1)} MB${recording.completed ? '' : ', incomplete'}`)),
    h('div', { class: 'recording-actions' }, ...actions));
}
