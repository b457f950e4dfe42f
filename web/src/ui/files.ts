// Files in the chat panel: a button to send one, and each file sent or offered with its
// progress, a cancel while it moves, and, once a received file checked out, a link to save it.
// Names are text, never markup. Each row is built once and updated in place.

import type { Transfer } from '../files';
import type { Meeting } from '../meeting';
import { h } from './dom';

export interface FilesSection {
  el: HTMLElement;
  update(): void;
}

export function filesSection(meeting: Meeting): FilesSection {
  const picker = h('input', { type: 'file', id: 'file-picker', 'data-testid': 'file-picker', hidden: true, multiple: true });
  const sendButton = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'file-send' }, 'Send a file');
  const list = h('ul', { class: 'file-list', 'aria-label': 'Files', 'data-testid': 'file-list' });
  const el = h('div', { class: 'files' }, list, h('div', { class: 'file-send' }, sendButton, picker));
  sendButton.addEventListener('click', () => picker.click());
  picker.addEventListener('change', () => {
    for (const file of picker.files ?? []) meeting.sendFile(file);
    picker.value = '';
  });

  const rows = new Map<number, Row>();
  function update(): void {
    sendButton.hidden = !meeting.mayShareFiles;
    const transfers = meeting.files.list;
    for (const [id, row] of rows) {
      if (!transfers.some((t) => t.id === id)) {
        row.el.remove();
        rows.delete(id);
      }
    }
    for (const transfer of transfers) {
      let row = rows.get(transfer.id);
      if (!row) {
        row = fileRow(transfer, meeting);
        rows.set(transfer.id, row);
        list.append(row.el);
      }
      row.update(transfer);
    }
    list.hidden = transfers.length === 0;
  }
  return { el, update };
}

interface Row { el: HTMLElement; update(transfer: Transfer): void }

function fileRow(transfer: Transfer, meeting: Meeting): Row {
  const progress = h('progress', { max: Math.max(transfer.size, 1), value: 0, 'aria-label': `${transfer.name}: progress` });
  const status = h('span', { class: 'file-status', 'data-testid': 'file-status', role: 'status' });
  const actions = h('span', { class: 'file-actions' });
  const el = h('li', { class: 'file-row', 'data-testid': 'file-row', 'data-name': transfer.name },
    h('div', { class: 'chat-meta' },
      h('span', { class: 'chat-from' }, transfer.incoming ? transfer.from : 'You'),
      h('span', { class: 'file-name', 'data-testid': 'file-name' }, transfer.name),
      h('span', { class: 'muted' }, megabytes(transfer.size))),
    progress, status, actions);
  let shownState = '';
  function update(t: Transfer): void {
    progress.value = t.done;
    progress.hidden = t.state !== 'sending' && t.state !== 'receiving';
    status.textContent = statusText(t);
    el.dataset.state = t.state;
    if (t.state === shownState) return;
    shownState = t.state;
    actions.replaceChildren(...actionsFor(t, meeting));
  }
  return { el, update };
}

function actionsFor(t: Transfer, meeting: Meeting): HTMLElement[] {
  const button = (testid: string, label: string, act: () => void): HTMLElement =>
    h('button', { type: 'button', class: 'btn btn-small', 'data-testid': testid, onclick: act }, label);
  switch (t.state) {
    case 'sending':
    case 'receiving':
      return [button('file-cancel', 'Cancel', () => meeting.files.cancel(t.id))];
    case 'offered':
    case 'failed':
    case 'cancelled':
      return t.incoming ? [button('file-download', t.state === 'offered' ? 'Download' : 'Try again', () => void meeting.files.receive(t.id))] : [];
    case 'received':
      return t.url ? [h('a', { class: 'btn btn-small', href: t.url, download: t.name, 'data-testid': 'file-save' }, 'Save')] : [];
    default:
      return [];
  }
}

function statusText(t: Transfer): string {
  switch (t.state) {
    case 'sending': return `Encrypting and uploading: ${megabytes(t.done)} of ${megabytes(t.size)}`;
    case 'sent': return 'Sent, end-to-end encrypted.';
    case 'offered': return 'End-to-end encrypted: download to decrypt it on this device.';
    case 'receiving': return `Downloading and decrypting: ${megabytes(t.done)} of ${megabytes(t.size)}`;
    case 'received': return 'Decrypted and checked: identical to the file sent.';
    case 'cancelled': return 'Cancelled.';
    case 'failed': return t.error ?? 'Failed.';
  }
}

function megabytes(bytes: number): string {
  return bytes < 1e6 ? `${Math.ceil(bytes / 1e3)} kB` : `${(bytes / 1e6).toFixed(1)} MB`;
}
