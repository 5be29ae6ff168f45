import type { AuditEntry } from '@cairn/core';
import { useCallback, useEffect, useState } from 'preact/hooks';
import type { DashboardApi } from '../api/dashboard-api.ts';
import { downloadBytes } from '../api/download-bytes.ts';
import { readAuditNewestFirst } from '../api/read-audit-entries.ts';
import { FilterForm } from '../filter-form.tsx';
import { auditFilterNames, hrefOf, queryOf, type AuditFilters } from '../use-route.ts';
import { When } from '../time-format.tsx';
import { usePageError } from '../use-page-error.ts';

const pageSize = 100;

/** The audit filters the form offers, named as `GET /v1/audit` takes them. */
const auditFilterFields = [
  { name: 'runId', label: 'Run', hint: 'run id' },
  { name: 'action', label: 'Action', hint: 'e.g. run.submitted' },
  { name: 'actor', label: 'Actor', hint: 'actor id, e.g. engine' },
  { name: 'since', label: 'Since', hint: 'in your time zone, inclusive', kind: 'time' },
  { name: 'until', label: 'Until', hint: 'in your time zone, exclusive', kind: 'time' },
  { name: 'from', label: 'From seq', hint: 'inclusive' },
  { name: 'to', label: 'To seq', hint: 'exclusive' },
] as const;

/**
 * The audit log (`audit:read`), newest first, a page at a time, with the filters the export takes
 * (run, action, actor id, time and seq range), kept in the page's URL. The NDJSON export reads
 * forward only: a page is read in windows of seqs going back from the log's head (or from the
 * oldest entry shown), each stream left once its window is read (readAuditNewestFirst).
 * **Export** downloads what the filters select, the bytes as served, in log order.
 */
export function AuditPage({
  api,
  filters,
  onUnauthenticated,
}: {
  readonly api: DashboardApi;
  readonly filters: AuditFilters;
  readonly onUnauthenticated: () => void;
}) {
  const [entries, setEntries] = useState<readonly AuditEntry[] | null>(null);
  // The seq the next, older, page reads below; null when the oldest entry is shown.
  const [olderBefore, setOlderBefore] = useState<number | null>(null);
  const [exporting, setExporting] = useState(false);
  const query = queryOf(filters, auditFilterNames).replace(/^\?/, '');
  const { error, setError, fail } = usePageError(onUnauthenticated);
  const readPage = useCallback((before: number | undefined) => readAuditNewestFirst(api, new URLSearchParams(query), pageSize, before), [api, query]);
  useEffect(() => {
    let cancelled = false;
    setEntries(null);
    setError(null);
    void readPage(undefined)
      .then((page) => {
        if (cancelled) return;
        setEntries(page.entries);
        setOlderBefore(page.olderBefore);
      })
      .catch((failure: unknown) => {
        if (!cancelled) (fail(failure), setEntries([]));
      });
    return () => {
      cancelled = true;
    };
  }, [readPage, fail]);
  const next = async () => {
    if (olderBefore === null) return;
    try {
      const page = await readPage(olderBefore);
      setEntries((current) => [...(current ?? []), ...page.entries]);
      setOlderBefore(page.olderBefore);
    } catch (failure) {
      fail(failure);
    }
  };
  const exportSelection = async () => {
    setExporting(true);
    try {
      downloadBytes(await api.blob(`/v1/audit${query ? `?${query}` : ''}`), filters.runId ? `audit-${filters.runId}.ndjson` : 'audit.ndjson');
    } catch (failure) {
      fail(failure);
    } finally {
      setExporting(false);
    }
  };
  return (
    <main class="audit-page">
      <h1>Audit log</h1>
      <FilterForm
        label="Filter audit entries"
        fields={auditFilterFields}
        values={filters}
        onApply={(values) => {
          location.hash = hrefOf({ page: 'audit', filters: values });
        }}
        clearHref={hrefOf({ page: 'audit', filters: {} })}
      />
      <div class="actions">
        <button type="button" onClick={() => void exportSelection()} disabled={exporting}>
          Export (NDJSON)
        </button>
        <span class="hint">
          {' '}
          every entry the filters select, one <code>{'{"entry":…,"leafIndex":n}'}</code> per line, as the server serves it
        </span>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {entries === null ? (
        <p class="loading">Loading entries…</p>
      ) : entries.length === 0 ? (
        error ? null : (
          <p class="empty">No entries match these filters.</p>
        )
      ) : (
        <table class="audit">
          <thead>
            <tr>
              <th scope="col">Seq</th>
              <th scope="col">Time</th>
              <th scope="col">Actor</th>
              <th scope="col">Action</th>
              <th scope="col">Entity</th>
              <th scope="col">Outcome</th>
              <th scope="col">Data</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((entry) => (
              <tr key={entry.seq} data-seq={entry.seq} data-run-id={entry.runId}>
                <td>{entry.seq}</td>
                <td>
                  <When iso={entry.time} />
                </td>
                <td>
                  {entry.actor.id}
                  <span class="hint">
                    {' '}
                    ({entry.actor.kind}
                    {entry.actor.via ? `, via ${entry.actor.via}` : ''})
                  </span>
                </td>
                <td>{entry.action}</td>
                <td>
                  {entry.entity.kind} {entry.entity.id}
                  {entry.runId && (
                    <div>
                      <a href={hrefOf({ page: 'run', runId: entry.runId, itemId: null, evidence: false })}>run {entry.runId}</a>
                    </div>
                  )}
                </td>
                <td class={`outcome outcome-${entry.outcome}`}>{entry.outcome}</td>
                <td>
                  {Object.keys(entry.data).length === 0 ? (
                    ''
                  ) : (
                    <details>
                      <summary>{Object.keys(entry.data).join(', ')}</summary>
                      <pre>{JSON.stringify(entry.data, null, 2)}</pre>
                    </details>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {olderBefore !== null && (
        <button type="button" onClick={() => void next()}>
          Older {pageSize}
        </button>
      )}
    </main>
  );
}
