import { useEffect, useState } from 'preact/hooks';
import type { DashboardApi } from '../api/dashboard-api.ts';
import type { components } from '../api/openapi.d.ts';
import { StateBadge } from '../state-badge.tsx';
import { candidateCheckOutput } from './candidate-check-output.ts';
import { judgeOf } from './candidate-judge.ts';
import type { AttemptView } from './item-attempts.tsx';
import { PatchDiff } from './patch-diff.tsx';

/** A best-of-N item's candidates, as `GET .../items` answers them: the API's ItemCandidates. */
export type ItemCandidates = components['schemas']['ItemCandidates'];
type Candidate = ItemCandidates['checked'][number];

const orderText: Record<ItemCandidates['order'], string> = {
  score: 'the highest score',
  'smallest-diff': 'the smallest diff',
  first: 'the first to pass',
};

/** How its check went, in words. */
function verdictOf(candidate: Candidate): string {
  if (candidate.outcome !== 'succeeded') return `not checked: it ${candidate.outcome}`;
  if (candidate.passed) return 'check passed';
  return candidate.exitCode === null && candidate.patchBytes === 0 ? 'not checked: it changed nothing' : 'check failed';
}

/**
 * A best-of-N item's candidates side by side (ADR 0053), a column each (stacked where the panel is
 * narrow): how its attempt ended, its check's verdict, exit code and score, its patch's size, the
 * end of its check output (from its attempt's log, where the worker writes it), its diff on
 * request, and which won and why — the declared order's choice, and a judge's when there is one.
 */
export function CandidatesView({
  api,
  path,
  candidates,
  attempts,
}: {
  readonly api: DashboardApi;
  /** The item's API path. */
  readonly path: string;
  readonly candidates: ItemCandidates;
  readonly attempts: readonly AttemptView[];
}) {
  const ordered = [...candidates.checked].sort((a, b) => a.round - b.round || a.candidate - b.candidate);
  const judge = judgeOf(candidates);
  return (
    <section class="candidates" aria-label="Candidates">
      <h3>Candidates</h3>
      <p class="candidates-rule">
        {candidates.count} a round; the winner is {orderText[candidates.order]} among those whose check passed
        {candidates.stopOnFirstPass ? ', and the first to pass stops the rest' : ''}.
      </p>
      {candidates.winner !== null ? (
        <p class="candidates-winner" role="status">
          Attempt {candidates.winner} won{candidates.reason === null ? '.' : `: ${candidates.reason}.`}
        </p>
      ) : (
        <p class="candidates-winner" role="status">
          No winner yet{ordered.length > 0 && ordered.every((each) => !each.passed) ? ': no candidate has passed its check' : ''}.
        </p>
      )}
      {judge && (
        <p class="candidates-judge">
          {judge.refused !== null
            ? `The judge's answer was refused (${judge.refused}): the order decided.`
            : `A judge ${judge.attempt === null ? 'gave its view' : `chose attempt ${judge.attempt}`}${judge.reason === null ? '.' : `: ${judge.reason}`}`}
        </p>
      )}
      <ol class="candidate-columns">
        {ordered.map((candidate) => (
          <CandidateColumn
            key={candidate.attempt}
            api={api}
            path={path}
            candidate={candidate}
            won={candidate.attempt === candidates.winner}
            patchDigest={attempts.find((attempt) => attempt.attempt === candidate.attempt)?.artifacts?.['patch'] ?? null}
          />
        ))}
      </ol>
    </section>
  );
}

function CandidateColumn({
  api,
  path,
  candidate,
  won,
  patchDigest,
}: {
  readonly api: DashboardApi;
  readonly path: string;
  readonly candidate: Candidate;
  readonly won: boolean;
  readonly patchDigest: string | null;
}) {
  const [output, setOutput] = useState<string | null | undefined>(undefined);
  const [patch, setPatch] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    let cancelled = false;
    void api
      .text(`${path}/logs?attempt=${candidate.attempt}&format=text`)
      .then((log) => !cancelled && setOutput(candidateCheckOutput(log)))
      .catch((failure: unknown) => !cancelled && setProblem(failure instanceof Error ? failure.message : String(failure)));
    return () => {
      cancelled = true;
    };
  }, [api, path, candidate.attempt]);
  const showDiff = async () => {
    try {
      setPatch(await api.text(`/v1/blobs/${patchDigest!}`));
    } catch (failure) {
      setProblem(failure instanceof Error ? failure.message : String(failure));
    }
  };
  return (
    <li class={`candidate${won ? ' winner' : ''}`} data-attempt={candidate.attempt} data-passed={String(candidate.passed)}>
      <h4>
        #{candidate.candidate}{' '}
        <span class="hint">
          round {candidate.round}, attempt {candidate.attempt}
        </span>
        {won && <span class="winner-badge">winner</span>}
      </h4>
      <dl class="candidate-facts">
        <dt>Outcome</dt>
        <dd>
          <StateBadge state={candidate.outcome} />
        </dd>
        <dt>Check</dt>
        <dd class={`candidate-verdict ${candidate.passed ? 'passed' : 'not-passed'}`}>
          {verdictOf(candidate)}
          {candidate.exitCode !== null && ` (exit ${candidate.exitCode})`}
        </dd>
        <dt>Score</dt>
        <dd>{candidate.score ?? '—'}</dd>
        <dt>Patch</dt>
        <dd>{candidate.patchBytes > 0 ? `${candidate.patchBytes} bytes` : 'none'}</dd>
      </dl>
      <p class="candidate-output-label">End of its check output</p>
      {output === undefined ? (
        <p class="loading">Loading…</p>
      ) : output === null ? (
        <p class="empty">No check ran.</p>
      ) : (
        <pre class="candidate-output">{output}</pre>
      )}
      {patchDigest !== null &&
        (patch === null ? (
          <button type="button" class="link" onClick={() => void showDiff()}>
            Show its diff
          </button>
        ) : (
          <PatchDiff patch={patch} fileName={`candidate-${candidate.attempt}.patch`} />
        ))}
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
    </li>
  );
}
