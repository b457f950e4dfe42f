// The audit log through the administration API (`read_audit`): a search newest first, the hash
// chain's check, and the export's download address (the browser fetches it with the cookie).

import { type Answer, call } from './admin-api';

export interface AuditRecord { seq: number; at: string; action: string; room: string | null; participant: string | null; detail: string | null; hash: string | null }
export interface AuditPage { records: AuditRecord[]; next_before: number | null }
export interface ChainReport { verified: number; head: { seq: number; hash: string } | null; fault: string | null }

/** What a search or an export lets through; empty fields are left out. */
export interface AuditFilter { since?: string; until?: string; action?: string; participant?: string; room?: string; contains?: string }

function query(fields: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined && value !== '') params.set(key, String(value));
  }
  return params.toString();
}

export const audit = {
  search: (filter: AuditFilter, before?: number): Promise<Answer<AuditPage>> =>
    call<AuditPage>('GET', `/api/admin/audit?${query({ ...filter, before })}`),
  verify: (): Promise<Answer<ChainReport>> => call<ChainReport>('GET', '/api/admin/audit/verify'),
  exportUrl: (filter: AuditFilter, format: 'jsonl' | 'csv'): string => `/api/admin/audit/export?${query({ format, ...filter })}`,
};
