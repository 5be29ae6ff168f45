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

/** The most entries one backward window reads: a selective filter over a long log pages on in windows this large. */
const widestWindow = 20_000;

/**
 * The seq of the log's newest entry, or null for an empty log. The export reads forward only and
 * no call gives the log's head, so it is found by reading one entry at a time: doubling `from`
 * until nothing follows, then halving the gap (about twice log2 of the log's length requests,
 * each read one line).
 */
export async function newestAuditSeq(api: DashboardApi): Promise<number | null> {
  const firstFrom = async (from: number): Promise<number | null> => (await readAuditEntries(api, `/v1/audit?from=${from}`, 1)).entries[0]?.seq ?? null;
  const first = await firstFrom(0);
  if (first === null) return null;
  let known = first;
  let step = 1;
  for (let seq = await firstFrom(known + step); seq !== null; seq = await firstFrom(known + step)) {
    known = seq;
    step *= 2;
  }
  // An entry at `known`, none from `known + step` on: narrow the gap.
  let beyond = known + step;
  while (beyond - known > 1) {
    const middle = Math.floor((known + beyond) / 2);
    const seq = await firstFrom(middle);
    if (seq === null) beyond = middle;
    else known = seq;
  }
  return known;
}

/**
 * At most `limit` entries that `query` (the export's filters) selects, newest first, below seq
 * `before` (exclusive; the log's head when undefined), and the seq to pass as `before` for the
 * next, older, page (null when none is left). Read in windows of seqs going back, each twice as
 * wide as the last when a filter leaves few entries in it.
 */
export async function readAuditNewestFirst(
  api: DashboardApi,
  query: URLSearchParams,
  limit: number,
  before: number | undefined,
): Promise<{ entries: AuditEntry[]; olderBefore: number | null }> {
  const lowest = Number(query.get('from') ?? 0);
  const ceiling = query.get('to') === null ? Infinity : Number(query.get('to'));
  let top = before ?? ((await newestAuditSeq(api)) ?? -1) + 1;
  top = Math.min(top, ceiling);
  const entries: AuditEntry[] = [];
  for (let window = limit; top > lowest; window = Math.min(window * 2, widestWindow)) {
    const bottom = Math.max(lowest, top - window);
    const parameters = new URLSearchParams(query);
    parameters.set('from', String(bottom));
    parameters.set('to', String(top));
    const { entries: found } = await readAuditEntries(api, `/v1/audit?${parameters.toString()}`, window);
    entries.push(...found.reverse());
    top = bottom;
    if (entries.length >= limit) {
      const page = entries.slice(0, limit);
      const oldest = page.at(-1)!.seq;
      return { entries: page, olderBefore: entries.length > limit || top > lowest ? oldest : null };
    }
  }
  return { entries, olderBefore: null };
}
