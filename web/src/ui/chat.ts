// The chat panel: the conversation, the files sent and offered, and the composer, to everyone or privately to one member of
// the encrypted group. A message is only ever text here: nothing it says reaches the DOM as
// markup, and a web address becomes a plain link (never fetched for a preview, which would
// tell its site who is in the meeting). Built once and updated in place, so typing and focus
// survive every update of the meeting.

import type { RosterMember } from 'sealroom-wasm';
import type { ChatLine } from '../chat';
import type { Meeting } from '../meeting';
import { h } from './dom';
import { filesSection } from './files';

/** The core refuses longer messages (MAX_CHAT_TEXT_CHARS); a textarea counts UTF-16 units,
 *  at least as many as characters, so this never lets through what the core refuses. */
const MAX_CHARS = 4000;

export interface ChatPanel {
  el: HTMLElement;
  update(): void;
}

export function chatPanel(meeting: Meeting, toast: (text: string) => void): ChatPanel {
  const intro = h('p', { class: 'muted small' }, 'End-to-end encrypted: the server relays and keeps these messages but cannot read them.');
  const log = h('ol', { class: 'chat-log', role: 'log', 'aria-label': 'Messages', 'data-testid': 'chat-log' });
  const recipient = h('select', { id: 'chat-recipient', 'data-testid': 'chat-recipient' });
  const input = h('textarea', { id: 'chat-input', 'data-testid': 'chat-input', rows: 2, maxlength: MAX_CHARS, 'aria-label': 'Message', placeholder: 'Write a message' });
  const form = h('form', { class: 'chat-compose', 'data-testid': 'chat-compose' },
    h('div', { class: 'chat-to' }, h('label', { for: 'chat-recipient' }, 'To'), recipient),
    input,
    h('button', { type: 'submit', class: 'btn btn-small', 'data-testid': 'chat-send' }, 'Send'));
  const readOnly = h('p', { class: 'muted small', 'data-testid': 'chat-read-only', hidden: true }, 'The room lets other roles chat: you can read the messages, not send.');
  const files = filesSection(meeting);
  const el = h('div', { class: 'panel-body chat' }, intro, log, files.el, form, readOnly);
  const recipients = recipientPicker(recipient, meeting);

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!input.value.trim()) return;
    const refused = meeting.sendChat(input.value, recipients.chosen());
    if (refused) toast(refused);
    else input.value = '';
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  let shown: ChatLine[] = [];
  function update(): void {
    const lines = meeting.chat.lines;
    // Lines only grow, unless the oldest went or a new conversation began: then redraw.
    const grown = shown.length <= lines.length && shown.every((line, i) => line === lines[i]);
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    if (!grown) log.replaceChildren();
    for (const line of lines.slice(grown ? shown.length : 0)) log.append(lineElement(line));
    shown = [...lines];
    if (atBottom) log.scrollTop = log.scrollHeight;
    recipients.update();
    files.update();
    form.hidden = !meeting.mayChat;
    readOnly.hidden = meeting.mayChat;
  }
  return { el, update };
}

/** The "To" list: everyone, or one member of the encrypted group (by the group's names),
 *  keeping the choice while that member stays. */
function recipientPicker(select: HTMLSelectElement, meeting: Meeting): { chosen(): RosterMember | null; update(): void } {
  let members: RosterMember[] = [];
  const chosen = (): RosterMember | null => members.find((m) => String(m.leaf) === select.value) ?? null;
  function update(): void {
    const others = meeting.roster.filter((m) => m.leaf !== meeting.epoch?.ownLeaf);
    const key = (list: RosterMember[]): string => list.map((m) => `${m.leaf}:${m.name}:${m.fingerprint}`).join('|');
    if (key(others) === key(members)) return;
    const keep = chosen();
    members = others;
    select.replaceChildren(h('option', { value: '' }, 'Everyone'),
      ...others.map((m) => h('option', { value: String(m.leaf), selected: keep?.fingerprint === m.fingerprint }, `${m.name} (private)`)));
  }
  return { chosen, update };
}

function lineElement(line: ChatLine): HTMLElement {
  if (line.kind === 'note') return h('li', { class: 'chat-note', 'data-testid': 'chat-note' }, line.text);
  const who = line.own ? (line.to ? `You to ${line.to}` : 'You') : line.from;
  return h('li', { class: `chat-line${line.own ? ' own' : ''}`, 'data-testid': 'chat-message', 'data-seq': line.seq, 'data-private': String(line.private) },
    h('div', { class: 'chat-meta' },
      h('span', { class: 'chat-from' }, who),
      line.private ? h('span', { class: 'chat-private' }, 'Private') : null,
      timeElement(line.sentAt)),
    h('p', { class: 'chat-text' }, ...withLinks(line.text)));
}

function timeElement(sentAt: number): HTMLElement | null {
  const time = new Date(sentAt);
  if (Number.isNaN(time.getTime())) return null;
  return h('time', { datetime: time.toISOString(), title: time.toLocaleString() }, time.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
}

const WEB_ADDRESS = /\bhttps?:\/\/[^\s<>"']+/g;

/** The text as text nodes, with each http(s) address a link that sends no Referer and opens
 *  apart from the meeting. */
function withLinks(text: string): (Node | string)[] {
  const parts: (Node | string)[] = [];
  let from = 0;
  for (const match of text.matchAll(WEB_ADDRESS)) {
    // Trailing punctuation ends the sentence, not the address.
    const address = match[0].replace(/[.,;:!?)\]]+$/, '');
    const at = match.index ?? 0;
    parts.push(text.slice(from, at), link(address));
    from = at + address.length;
  }
  parts.push(text.slice(from));
  return parts.filter((part) => part !== '');
}

function link(address: string): Node {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    return document.createTextNode(address);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return document.createTextNode(address);
  return h('a', { href: url.href, target: '_blank', rel: 'noopener noreferrer nofollow', referrerpolicy: 'no-referrer' }, address);
}
