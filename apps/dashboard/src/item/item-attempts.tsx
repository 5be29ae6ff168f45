import type { components } from '../api/openapi.d.ts';
import { StateBadge } from '../state-badge.tsx';
import { durationBetween, durationText, When } from '../time-format.tsx';

/** An attempt as `GET .../attempts` answers it: the API's Attempt, generated from its OpenAPI document. */
export type AttemptView = components['schemas']['Attempt'];

/** One span of an attempt's timeline: waiting in the queue, waiting for a lock, or running. */
export interface Span {
  readonly kind: 'queue' | 'lock' | 'run';
  readonly from: string;
  /** Null while it lasts (a running attempt). */
  readonly to: string | null;
  readonly label: string;
}

/**
 * An item's attempts as a timeline, each attempt's time split into its spans: waiting to be
 * dispatched once ready (for concurrency limits: the queue), waiting for a global lock another item
 * held (with the lock's name), and running; then how it ended and, when it failed, its own reason:
 * its code and the message's first line (the whole message on hover), or only its code for the
 * attempt whose failure the panel explains above (`explained`), so a reason is not said twice.
 * Each row's button shows that attempt's output.
 */
export function ItemAttempts({
  attempts,
  explained = null,
  readyAt,
  shown,
  onShow,
}: {
  readonly attempts: readonly AttemptView[];
  readonly explained?: number | null;
  readonly readyAt: string | null;
  readonly shown: number | null;
  readonly onShow: (attempt: number) => void;
}) {
  if (attempts.length === 0) return null;
  const latest = attempts[attempts.length - 1]!.attempt;
  const first = attempts[0]!;
  return (
    <table class="attempts-table">
      <caption class="hint">
        {readyAt !== null && `waited ${duration(readyAt, first.dispatchedAt)} to be dispatched · `}
        {attempts.length} attempt{attempts.length === 1 ? '' : 's'}
      </caption>
      <tbody role="group" aria-label="Attempts">
        {attempts.map((attempt, index) => {
          const spans = spansOf(attempt, readyFor(attempts, index, readyAt));
          return (
            <tr key={attempt.attempt} data-attempt={attempt.attempt}>
              <td>
                <button type="button" aria-pressed={(shown ?? latest) === attempt.attempt} onClick={() => onShow(attempt.attempt)}>
                  attempt {attempt.attempt}
                </button>
              </td>
              <td>
                <StateBadge state={attempt.state} />
              </td>
              <td>
                <When iso={attempt.dispatchedAt} />
                {spans.map((span) => (
                  <span key={span.kind} class={span.kind === 'lock' ? 'lock-wait' : undefined} data-span={span.kind}>
                    {' · '}
                    {span.label}
                  </span>
                ))}
                {attempt.exitCode === null ? '' : ` · exit ${attempt.exitCode}`}
                <Timeline spans={spans} />
              </td>
              <td class="attempt-failure" title={attempt.failure?.message}>
                {attempt.failure === null
                  ? ''
                  : attempt.attempt === explained
                    ? `${attempt.failure.code} (why: above)`
                    : `${attempt.failure.code}: ${attempt.failure.message.split(/\r?\n/)[0]}`}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/**
 * When the attempt's own wait began: the item's `readyAt` belongs to the attempt it preceded (the
 * first, or a retry's, which is due after the previous attempt ended); for the others it is not
 * known, and no queue span is drawn.
 */
export function readyFor(attempts: readonly AttemptView[], index: number, readyAt: string | null): string | null {
  if (readyAt === null) return null;
  const attempt = attempts[index]!;
  if (Date.parse(readyAt) > Date.parse(attempt.dispatchedAt)) return null;
  const previous = attempts[index - 1];
  if (previous !== undefined && (previous.finishedAt === null || Date.parse(readyAt) < Date.parse(previous.finishedAt))) return null;
  return readyAt;
}

export function spansOf(attempt: AttemptView, readyAt: string | null): Span[] {
  const spans: Span[] = [];
  const lockWait = attempt.lockWait ?? null;
  if (readyAt !== null) {
    const queued = lockWait?.startedAt ?? attempt.dispatchedAt;
    spans.push({ kind: 'queue', from: readyAt, to: queued, label: `queued ${duration(readyAt, queued)}` });
  }
  if (lockWait !== null) {
    const names = lockWait.locks.join(', ');
    spans.push({
      kind: 'lock',
      from: lockWait.startedAt,
      to: attempt.dispatchedAt,
      label: `waited ${duration(lockWait.startedAt, attempt.dispatchedAt)} for lock${lockWait.locks.length === 1 ? '' : 's'} ${names}`,
    });
  }
  spans.push({
    kind: 'run',
    from: attempt.dispatchedAt,
    to: attempt.finishedAt,
    label: attempt.finishedAt === null ? 'running' : `ran ${duration(attempt.dispatchedAt, attempt.finishedAt)}`,
  });
  return spans;
}

/** The spans as one bar, each as wide as its share of the attempt's time (a running one up to now). */
function Timeline({ spans }: { readonly spans: readonly Span[] }) {
  const now = new Date().toISOString();
  const lengths = spans.map((span) => Math.max(0, Date.parse(span.to ?? now) - Date.parse(span.from)));
  const total = lengths.reduce((sum, length) => sum + length, 0);
  return (
    <div class="attempt-timeline" aria-hidden="true">
      {spans.map((span, index) => (
        <span key={span.kind} class={`span-${span.kind}`} title={span.label} style={{ flexGrow: total === 0 ? 1 : Math.max(lengths[index]! / total, 0.02) }} />
      ))}
    </div>
  );
}

function duration(from: string, to: string): string {
  return durationText(durationBetween(from, to));
}
