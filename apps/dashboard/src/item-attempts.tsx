import type { AttemptFailure } from '@cairn/core';
import { StateBadge } from './state-badge.tsx';

/** An attempt as `GET .../attempts` answers it (the fields the page reads). */
export interface AttemptView {
  readonly attempt: number;
  readonly state: string;
  readonly exitCode: number | null;
  readonly artifacts: Readonly<Record<string, string>> | null;
  readonly dispatchedAt: string;
  readonly finishedAt: string | null;
  readonly failure: AttemptFailure | null;
}

/**
 * An item's attempts as a timeline: how long it waited to be dispatched (from ready), how long each
 * attempt ran, how it ended and, when it failed, its own reason. Each row's button shows that
 * attempt's output.
 */
export function ItemAttempts({
  attempts,
  readyAt,
  shown,
  onShow,
}: {
  readonly attempts: readonly AttemptView[];
  readonly readyAt: string | null;
  readonly shown: number | null;
  readonly onShow: (attempt: number) => void;
}) {
  if (attempts.length === 0) return null;
  const latest = attempts[attempts.length - 1]!.attempt;
  return (
    <table class="attempts-table">
      <caption class="hint">
        {readyAt !== null && `waited ${duration(readyAt, attempts[0]!.dispatchedAt)} to be dispatched · `}
        {attempts.length} attempt{attempts.length === 1 ? '' : 's'}
      </caption>
      <tbody role="group" aria-label="Attempts">
        {attempts.map((attempt) => (
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
              <time dateTime={attempt.dispatchedAt}>{new Date(attempt.dispatchedAt).toLocaleTimeString()}</time>
              {' · '}
              {attempt.finishedAt === null ? 'running' : `ran ${duration(attempt.dispatchedAt, attempt.finishedAt)}`}
              {attempt.exitCode === null ? '' : ` · exit ${attempt.exitCode}`}
            </td>
            <td class="attempt-failure">{attempt.failure ? `${attempt.failure.code}: ${attempt.failure.message}` : ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function duration(from: string, to: string): string {
  const milliseconds = Math.max(0, Date.parse(to) - Date.parse(from));
  if (milliseconds < 1_000) return `${milliseconds} ms`;
  if (milliseconds < 60_000) return `${(milliseconds / 1_000).toFixed(1)} s`;
  return `${Math.floor(milliseconds / 60_000)} min ${Math.round((milliseconds % 60_000) / 1_000)} s`;
}
