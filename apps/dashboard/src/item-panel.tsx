import type { ItemSpec } from '@cairn/core';
import { useState } from 'preact/hooks';
import { ActionBar, type ActionButton } from './action-bar.tsx';
import { ApiError } from './api-error.ts';
import type { DashboardApi } from './dashboard-api.ts';
import { ItemLogs } from './item-logs.tsx';
import { PatchDiff } from './patch-diff.tsx';
import type { Permissions } from './permissions.ts';
import type { ItemSummary } from './run-summary.ts';
import { StateBadge } from './state-badge.tsx';

const startedStates = new Set(['running', 'succeeded', 'failed']);
const liveStates = new Set(['blocked', 'awaiting-approval', 'ready', 'running']);

/**
 * One item of a run: its state, why it failed (code, message, exit code or signal, the refusing
 * rule, the end of its stderr), its attempts and the output of each (live while it runs), what it
 * runs, and — once it succeeded — its patch as a diff, loaded when asked for.
 */
export function ItemPanel({
  api,
  runId,
  itemId,
  item,
  spec,
  permissions,
  onChanged,
  onError,
}: {
  readonly api: DashboardApi;
  readonly runId: string;
  readonly itemId: string;
  readonly item: ItemSummary | null;
  readonly spec: ItemSpec | null;
  readonly permissions: Permissions;
  /** After an action: the run's page reads the items again. */
  readonly onChanged: () => void;
  readonly onError: (failure: unknown) => void;
}) {
  const path = `/v1/runs/${encodeURIComponent(runId)}/items/${encodeURIComponent(itemId)}`;
  const [latestAttempt, setLatestAttempt] = useState<number | null>(null);
  const [shownAttempt, setShownAttempt] = useState<number | null>(null);
  const [patch, setPatch] = useState<{ state: 'idle' | 'loading' | 'none' } | { state: 'loaded'; text: string }>({ state: 'idle' });
  const started = item !== null && startedStates.has(item.state);
  const loadPatch = async () => {
    setPatch({ state: 'loading' });
    try {
      setPatch({ state: 'loaded', text: await api.text(`${path}/patch`) });
    } catch (failure) {
      if (failure instanceof ApiError && failure.status === 404) setPatch({ state: 'none' });
      else {
        setPatch({ state: 'idle' });
        onError(failure);
      }
    }
  };
  const failure = item?.failure ?? null;
  const act = (action: 'approve' | 'reject' | 'cancel') => async (reason: string | undefined) => {
    await api.post(`${path}/${action}`, reason === undefined ? {} : { reason });
    onChanged();
  };
  const buttons: ActionButton[] = [];
  if (item?.state === 'awaiting-approval') {
    if (permissions.may('items.approve')) buttons.push({ label: 'Approve', tone: 'primary', run: act('approve') });
    if (permissions.may('items.reject')) buttons.push({ label: 'Reject', tone: 'danger', run: act('reject') });
  }
  if (item && liveStates.has(item.state) && permissions.may('items.cancel')) buttons.push({ label: 'Cancel the item', tone: 'danger', run: act('cancel') });
  return (
    <section class="item-panel" aria-label={`Item ${itemId}`}>
      <h2>
        {itemId} {item && <StateBadge state={item.state} />}
        {item?.approvalRequired && <span class="hint">needs approval</span>}
      </h2>
      <ActionBar label={`Actions on ${itemId}`} buttons={buttons} />
      {failure && (
        <div class="failure" role="note">
          <h3>Why it failed</h3>
          <p>
            <code>{failure.code}</code> {failure.message}
          </p>
          <p class="hint">
            {failure.exitCode !== null ? `exit code ${failure.exitCode}` : failure.signal !== null ? `signal ${failure.signal}` : 'it did not run to an exit'}
            {failure.rule ? ` · refused by rule ${failure.rule}` : ''}
          </p>
          {failure.stderrTail !== '' && <pre class="stderr">{failure.stderrTail}</pre>}
        </div>
      )}
      <h3>
        Output
        {latestAttempt !== null && (
          <span class="attempts" role="group" aria-label="Attempts">
            {Array.from({ length: latestAttempt }, (_, index) => index + 1).map((number) => (
              <button
                key={number}
                type="button"
                aria-pressed={(shownAttempt ?? latestAttempt) === number}
                onClick={() => setShownAttempt(number === latestAttempt ? null : number)}
              >
                attempt {number}
              </button>
            ))}
          </span>
        )}
      </h3>
      {started ? (
        <ItemLogs
          api={api}
          path={path}
          follow={item.state === 'running' && shownAttempt === null}
          attempt={shownAttempt}
          onAttempt={(attempt) => {
            if (shownAttempt === null) setLatestAttempt(attempt);
          }}
        />
      ) : (
        <p class="empty">It has not run{item ? ` (${item.state})` : ''}.</p>
      )}
      {item?.state === 'succeeded' && (
        <>
          <h3>Patch</h3>
          {patch.state === 'loaded' ? (
            <PatchDiff patch={patch.text} fileName={`${runId}-${itemId}.patch`} />
          ) : patch.state === 'none' ? (
            <p class="empty">It changed nothing: no patch.</p>
          ) : (
            <button type="button" onClick={() => void loadPatch()} disabled={patch.state === 'loading'}>
              {patch.state === 'loading' ? 'Loading…' : 'Show the patch'}
            </button>
          )}
        </>
      )}
      {spec && (
        <details class="item-spec">
          <summary>What it runs</summary>
          <pre>{JSON.stringify(spec, null, 2)}</pre>
        </details>
      )}
    </section>
  );
}
