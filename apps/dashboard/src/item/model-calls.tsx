import type { AuditEntry } from '@cairn/core';
import { useEffect, useState } from 'preact/hooks';
import type { DashboardApi } from '../api/dashboard-api.ts';
import { readAuditEntries } from '../api/read-audit-entries.ts';
import { dollars } from '@cairn/protocol/format';
import { durationText, When } from '../time-format.tsx';

/** The most calls listed for an attempt; the audit page has them all. */
const shownCalls = 500;

/**
 * The model calls of one attempt, as the gateway audited them (its `model.called` entries): model,
 * outcome, tokens, cost, time to the first token and the whole call, and why a call was refused or
 * failed. Read when the attempt shown or its item's state changes; nothing is shown for an attempt
 * that made none.
 */
export function ModelCalls({
  api,
  runId,
  executionId,
  refreshKey,
  onError,
}: {
  readonly api: DashboardApi;
  readonly runId: string;
  readonly executionId: string;
  /** Read again when it changes (the item's state). */
  readonly refreshKey: string;
  readonly onError: (failure: unknown) => void;
}) {
  const [calls, setCalls] = useState<readonly AuditEntry[]>([]);
  useEffect(() => {
    let cancelled = false;
    const query = new URLSearchParams({ runId, action: 'model.called' });
    void readAuditEntries(api, `/v1/audit?${query.toString()}`, 10_000)
      .then(({ entries }) => {
        if (!cancelled) setCalls(entries.filter((entry) => entry.entity.id === executionId).slice(0, shownCalls));
      })
      .catch((failure: unknown) => {
        if (!cancelled) onError(failure);
      });
    return () => {
      cancelled = true;
    };
  }, [api, runId, executionId, refreshKey]);
  if (calls.length === 0) return null;
  const count = (value: unknown) => (typeof value === 'number' ? String(value) : '?');
  return (
    <div class="model-calls">
      <h3>Model calls</h3>
      <table aria-label="Model calls of the attempt">
        <thead>
          <tr>
            <th>time</th>
            <th>model</th>
            <th>outcome</th>
            <th>tokens in / out / cached</th>
            <th>cost</th>
            <th>first token</th>
            <th>took</th>
          </tr>
        </thead>
        <tbody>
          {calls.map((call) => (
            <tr key={call.seq} data-outcome={call.outcome} title={typeof call.data['reason'] === 'string' ? call.data['reason'] : undefined}>
              <td>
                <When iso={call.time} />
              </td>
              <td>{String(call.data['model'])}</td>
              <td>
                {call.outcome} ({String(call.data['status'])})
              </td>
              <td>
                {count(call.data['inputTokens'])} / {count(call.data['outputTokens'])} / {count(call.data['cacheReadTokens'])}
              </td>
              <td>{typeof call.data['costUsd'] === 'number' ? dollars(call.data['costUsd']) : 'unknown'}</td>
              <td>{typeof call.data['firstTokenMs'] === 'number' ? durationText(call.data['firstTokenMs']) : ''}</td>
              <td>{typeof call.data['latencyMs'] === 'number' ? durationText(call.data['latencyMs']) : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
