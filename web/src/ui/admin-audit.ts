// The console's audit log: search by time, action, account, room and text, newest first and a
// page at a time; check the hash chain; download what the search shows as JSON lines or CSV.

import { type AuditFilter, type AuditRecord, audit } from '../audit-api';
import { h } from './dom';

export function auditSection(): HTMLElement {
  const section = h('section', { class: 'access-card', 'aria-labelledby': 'admin-audit-title' });
  const results = h('tbody', { 'data-testid': 'audit-records' });
  const status = h('p', { role: 'status', 'data-testid': 'audit-status' });
  const chain = h('p', { role: 'status', 'data-testid': 'audit-chain' });
  const older = h('button', { type: 'button', class: 'btn btn-small', hidden: true, 'data-testid': 'audit-older' }, 'Older records');
  const downloads = h('p', { class: 'audit-downloads' });
  const form = filterForm();
  let before: number | null = null;
  const search = async (more: boolean) => {
    const filter = form.filter();
    const page = await audit.search(filter, more && before !== null ? before : undefined);
    if (!page.ok) { status.textContent = page.message; return; }
    if (!more) results.replaceChildren();
    results.append(...page.value.records.map(recordRow));
    before = page.value.next_before;
    older.hidden = before === null;
    status.textContent = results.children.length === 0 ? 'No record matches.' : `${results.children.length} record(s) shown, newest first.`;
    downloads.replaceChildren('Download what matches: ', downloadLink(filter, 'jsonl', 'JSON lines'), ' · ', downloadLink(filter, 'csv', 'CSV'));
  };
  form.element.addEventListener('submit', (event) => { event.preventDefault(); void search(false); });
  older.addEventListener('click', () => void search(true));
  const verify = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'audit-verify' }, 'Check the chain');
  verify.addEventListener('click', async () => { chain.textContent = await chainVerdict(); });
  section.replaceChildren(h('h2', { id: 'admin-audit-title' }, 'Audit log'), form.element, verify, chain, status, downloads,
    h('table', { class: 'admin-table audit-table' },
      h('thead', {}, h('tr', {}, ...['#', 'Time (UTC)', 'Action', 'Room', 'Who', 'Detail'].map((t) => h('th', {}, t)))), results),
    older);
  void search(false);
  return section;
}

function filterForm(): { element: HTMLFormElement; filter: () => AuditFilter } {
  const input = (id: string, label: string, type = 'text') => {
    const field = h('input', { id: `audit-${id}`, type, 'data-testid': `audit-${id}` });
    return { field, wrap: h('div', { class: 'field' }, h('label', { for: `audit-${id}` }, label), field) };
  };
  const since = input('since', 'From (day)', 'date');
  const until = input('until', 'Until (day, included)', 'date');
  const action = input('action', 'Action, e.g. sign_in_refused');
  const participant = input('participant', 'Account or participant');
  const room = input('room', 'Room');
  const contains = input('contains', 'Detail contains');
  const element = h('form', { class: 'poll-form audit-filter' }, since.wrap, until.wrap, action.wrap, participant.wrap, room.wrap, contains.wrap,
    h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'audit-search' }, 'Search'));
  const filter = (): AuditFilter => ({
    since: since.field.value ? `${since.field.value}T00:00:00Z` : undefined,
    until: until.field.value ? nextDay(until.field.value) : undefined,
    action: action.field.value.trim(),
    participant: participant.field.value.trim(),
    room: room.field.value.trim(),
    contains: contains.field.value,
  });
  return { element, filter };
}

/** The start of the day after `day` (YYYY-MM-DD), so "until" includes the day chosen. */
function nextDay(day: string): string {
  const next = new Date(`${day}T00:00:00Z`);
  next.setUTCDate(next.getUTCDate() + 1);
  return next.toISOString().replace('.000Z', 'Z');
}

function recordRow(record: AuditRecord): HTMLElement {
  return h('tr', { 'data-testid': 'audit-record', 'data-action': record.action },
    h('td', {}, String(record.seq)), h('td', {}, record.at.replace('T', ' ').replace(/\.\d+Z$/, '')), h('td', {}, record.action),
    h('td', {}, record.room ?? ''), h('td', {}, record.participant ?? ''), h('td', { class: 'audit-detail' }, record.detail ?? ''));
}

function downloadLink(filter: AuditFilter, format: 'jsonl' | 'csv', label: string): HTMLElement {
  return h('a', { href: audit.exportUrl(filter, format), download: `sealroom-audit.${format}`, 'data-testid': `audit-download-${format}` }, label);
}

async function chainVerdict(): Promise<string> {
  const report = await audit.verify();
  if (!report.ok) return report.message;
  const { verified, head, fault } = report.value;
  if (fault) return `The log does not verify: ${fault}.`;
  const anchor = head ? ` Head: record ${head.seq}, hash ${head.hash}. Keep it elsewhere to detect a rewrite.` : '';
  return `${verified} record(s) verified.${anchor}`;
}
