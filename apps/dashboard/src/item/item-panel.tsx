import type { ItemSpec } from '@cairn/core';
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ActionBar, type ActionButton } from '../action-bar.tsx';
import { ApiError } from '../api/api-error.ts';
import type { DashboardApi } from '../api/dashboard-api.ts';
import { ItemAttempts, type AttemptView } from './item-attempts.tsx';
import { ItemEgress } from './item-egress.tsx';
import { ItemEnvironment } from './item-environment.tsx';
import { ItemLogs } from './item-logs.tsx';
import { ItemManifest } from './item-manifest.tsx';
import { ApprovalVotes } from './approval-votes.tsx';
import { ModelCalls } from './model-calls.tsx';
import { PatchDiff } from './patch-diff.tsx';
import { DeliveryPanel } from '../run/delivery-panel.tsx';
import { deliveryOf } from '../api/item-delivery.ts';
import type { Permissions } from '../api/permissions.ts';
import type { ItemSummary } from '../api/run-summary.ts';
import { spendText, type ModelSpend } from '../spend-text.ts';
import { StateBadge } from '../state-badge.tsx';
import { When } from '../time-format.tsx';
import { approvalHint } from './approval-hint.ts';
import { FailureNote } from './failure-note.tsx';
import { CandidatesView } from './candidates-view.tsx';
import { ReusedResult } from './reused-result.tsx';

const liveStates = new Set(['blocked', 'awaiting-approval', 'ready', 'running']);

/**
 * One item of a run: its state, why it failed (code, message, exit code or signal, the refusing
 * rule, the end of its stderr), behind a network allow-list what the shown attempt's egress proxy
 * refused and the entry that would allow it, the warm environment it ran over (its setup log a click
 * away), its attempts and the output and signed dispatch
 * manifest of each (output live while it runs), what it runs, and — once it succeeded — its patch as a diff, loaded when asked for.
 */
export function ItemPanel({
  api,
  runId,
  itemId,
  item,
  spec,
  spend,
  runEnded,
  runAwaitingBudget = false,
  permissions,
  onChanged,
  onError,
  runActions = null,
}: {
  readonly api: DashboardApi;
  readonly runId: string;
  readonly itemId: string;
  readonly item: ItemSummary | null;
  readonly spec: ItemSpec | null;
  /** What its model calls spent, when it made any through the gateway. */
  readonly spend: ModelSpend | null;
  /** Whether the run has ended (its evidence, and the key a delivery's provenance is checked with, is issued then). */
  readonly runEnded: boolean;
  /** Whether the run awaits a budget raise (`awaiting-budget`): it starts no agent item until then. */
  readonly runAwaitingBudget?: boolean;
  readonly permissions: Permissions;
  /** After an action: the run's page reads the items again. */
  readonly onChanged: () => void;
  readonly onError: (failure: unknown) => void;
  /** What the run's page offers from this item (re-run from a failed item), under its own actions. */
  readonly runActions?: ComponentChildren;
}) {
  const path = `/v1/runs/${encodeURIComponent(runId)}/items/${encodeURIComponent(itemId)}`;
  const [attempts, setAttempts] = useState<readonly AttemptView[]>([]);
  const [shownAttempt, setShownAttempt] = useState<number | null>(null);
  const [patch, setPatch] = useState<string | null>(null);
  // The attempts are read again whenever the item changes state (a retry, its end).
  useEffect(() => {
    let cancelled = false;
    void api
      .json<AttemptView[]>(`${path}/attempts`)
      .then((latest) => {
        if (!cancelled) setAttempts(latest);
      })
      .catch((failure: unknown) => {
        if (!cancelled && !(failure instanceof ApiError && failure.status === 404)) onError(failure);
      });
    return () => {
      cancelled = true;
    };
  }, [api, path, item?.state]);
  // The patch of the attempt that succeeded, when it left one: asked for only when it exists.
  const patchDigest = attempts.find((attempt) => attempt.state === 'succeeded')?.artifacts?.['patch'] ?? null;
  useEffect(() => {
    if (patchDigest === null) return;
    let cancelled = false;
    void api
      .text(`${path}/patch`)
      .then((text) => {
        if (!cancelled) setPatch(text);
      })
      .catch((failure: unknown) => {
        if (!cancelled) onError(failure);
      });
    return () => {
      cancelled = true;
    };
  }, [api, path, patchDigest]);
  const latestAttempt = attempts.length === 0 ? null : attempts[attempts.length - 1]!.attempt;
  // The manifest of the attempt the view shows (its output above): the latest unless one was chosen.
  const manifestAttempt = attempts.find((attempt) => attempt.attempt === (shownAttempt ?? latestAttempt)) ?? null;
  const started = latestAttempt !== null;
  const failure = item?.failure ?? null;
  // What a deliver item delivered, once it succeeded.
  const delivery = deliveryOf(item);
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
        {approvalHint(item) !== null && <span class="hint approval-hint">{approvalHint(item)}</span>}
      </h2>
      <ActionBar label={`Actions on ${itemId}`} buttons={buttons} />
      {runActions}
      <ApprovalVotes item={item} />
      {spend && <p class="item-spend">Spent {spendText(spend)}</p>}
      {failure && <FailureNote failure={failure} />}
      {manifestAttempt && <ItemEgress egress={manifestAttempt.egress} attempt={manifestAttempt.attempt} />}
      {manifestAttempt && <ItemEnvironment api={api} environment={manifestAttempt.environment} attempt={manifestAttempt.attempt} onError={onError} />}
      {delivery && (
        <DeliveryPanel api={api} runId={runId} itemId={itemId} delivery={delivery} runEnded={runEnded} mayReadEvidence={permissions.may('audit.read')} />
      )}
      {item?.candidates && <CandidatesView api={api} path={path} candidates={item.candidates} attempts={attempts} />}
      <h3>Attempts and output</h3>
      {item?.state === 'succeeded' && spec?.effect === 'pure' && permissions.may('audit.read') && <ReusedResult api={api} runId={runId} itemId={itemId} />}
      {item?.state === 'ready' && runAwaitingBudget && spec?.runtime.kind === 'agent' && (
        <p class="budget-held" role="status">
          Held: the run has spent its budget, and starts no agent item until it is raised (the Budget panel above) or the run is cancelled.
        </p>
      )}
      {item?.state === 'ready' && item.lockWait && (
        <p class="lock-waiting" role="status">
          Waiting for lock{item.lockWait.locks.length === 1 ? '' : 's'} <code>{item.lockWait.locks.join(', ')}</code> since{' '}
          <When iso={item.lockWait.startedAt} />: another item holds it, or an older item waits for it first.
        </p>
      )}
      <ItemAttempts
        attempts={attempts}
        explained={failure === null ? null : latestAttempt}
        readyAt={item?.readyAt ?? null}
        shown={shownAttempt}
        onShow={(attempt) => setShownAttempt(attempt === latestAttempt ? null : attempt)}
      />
      {started ? (
        <ItemLogs api={api} path={path} follow={item?.state === 'running' && shownAttempt === null} attempt={shownAttempt} />
      ) : (
        <p class="empty">It has not run{item ? ` (${item.state})` : ''}.</p>
      )}
      {manifestAttempt && permissions.may('audit.read') && (
        <ModelCalls
          api={api}
          runId={runId}
          executionId={`${runId}/${itemId}/${manifestAttempt.attempt}`}
          refreshKey={`${manifestAttempt.attempt}:${item?.state ?? ''}`}
          onError={onError}
        />
      )}
      {manifestAttempt && (
        <ItemManifest
          api={api}
          digest={manifestAttempt.manifestDigest}
          attempt={manifestAttempt.attempt}
          fileName={`${runId}-${itemId}-attempt-${manifestAttempt.attempt}.manifest.json`}
          onError={onError}
        />
      )}
      {/* A deliver item changes no workspace: what it made is its delivery, above. */}
      {item?.state === 'succeeded' && delivery === null && (
        <>
          <h3>Patch</h3>
          {patchDigest === null ? (
            <p class="empty">It changed nothing: no patch.</p>
          ) : patch === null ? (
            <p class="loading">Loading the patch…</p>
          ) : (
            <PatchDiff patch={patch} fileName={`${runId}-${itemId}.patch`} />
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
