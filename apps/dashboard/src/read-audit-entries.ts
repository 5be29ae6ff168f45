import type { AuditEntry } from '@cairn/core';
import type { DashboardApi } from './dashboard-api.ts';

/**
 * At most `limit` entries of the NDJSON export at `path`, and whether more follow: reads lines as
 * they arrive and cancels the stream once one more than `limit` has come.
 */
export async function readAuditEntries(api: DashboardApi, path: string, limit: number): Promise<{ entries: AuditEntry[]; more: boolean }> {
  const response = await api.request('GET', path);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const entries: AuditEntry[] = [];
  let buffered = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (value !== undefined) buffered += value;
      const lines = buffered.split('\n');
      buffered = done ? '' : lines.pop()!;
      for (const line of lines) {
        if (line.trim() === '') continue;
        if (entries.length === limit) return { entries, more: true };
        entries.push((JSON.parse(line) as { entry: AuditEntry }).entry);
      }
      if (done) return { entries, more: false };
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}
