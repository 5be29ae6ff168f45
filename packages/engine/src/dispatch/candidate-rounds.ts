import type { AttemptFailure, ItemSpec, JsonObject } from '@cairn/core';
import { rankCandidates, readJudgeAnswer, recordedCandidateOf, type CheckedCandidate, type RecordedCandidate } from '@cairn/audit';
import { engineActor } from '../engine-actor.ts';
import { retryDelay } from '../retry-delay.ts';
import type { DispatchContext } from './dispatch-context.ts';
import { engineFailure, failureSummary } from './engine-failure.ts';
import type { ResultRead } from './read-result.ts';
import { judgedRound } from './candidate-judge.ts';

/** An attempt of an item with `candidates`, as its end is recorded. */
export interface CandidateAttempt {
  readonly runId: string;
  readonly itemId: string;
  readonly attempt: number;
  readonly executionId: string;
}

/** An item with candidates, as the recorder reads its spec. */
type CandidateSpec = ItemSpec & { readonly candidates: NonNullable<ItemSpec['candidates']> };
type JudgedItemSpec = CandidateSpec & { readonly select: NonNullable<ItemSpec['select']> };

/** How a candidate's attempt ended, as the recorder decided it. */
export interface CandidateEnd {
  readonly outcome: 'succeeded' | 'failed' | 'timed-out' | 'cancelled' | 'lost';
  readonly artifacts: Readonly<Record<string, string>> | null;
  readonly failure: AttemptFailure | null;
}

/** Where a candidate stands in its item's rounds: round r holds attempts (r-1)·count+1 … r·count. */
export function candidatePlace(attempt: number, count: number): { readonly round: number; readonly index: number; readonly first: number } {
  const round = Math.ceil(attempt / count);
  const first = (round - 1) * count + 1;
  return { round, index: attempt - first + 1, first };
}

/**
 * Best of N in the engine (ADR 0053): the candidates of an item are its attempts, a round of them
 * at once. Each candidate's end is audited as `candidate.checked` (its check's verdict and score,
 * its patch and size, never the check's output, which may hold what the agent wrote); with
 * `stopOnFirstPass` the first to pass has the others of its round asked to stop; and once the
 * round's last candidate has ended, the round is decided from those entries with `rankCandidates`
 * — the function the verifier re-checks the choice with — in the transaction that records that end:
 * the winner's patch becomes the item's (`candidate.selected`, then `item.succeeded`), or no
 * candidate passed (`candidate.none-passed`) and the item is retried as a new round or fails with
 * CAIRN_CANDIDATES_NONE_PASSED.
 */
export class CandidateRounds {
  readonly #context: DispatchContext;

  constructor(context: DispatchContext) {
    this.#context = context;
  }

  /** Records a candidate's end, and decides its round when it was the round's last; in the caller's transaction. */
  ended(attempt: CandidateAttempt, spec: CandidateSpec, end: CandidateEnd, read: ResultRead): void {
    const { settings, attempts } = this.#context;
    const { runId, itemId } = attempt;
    const count = spec.candidates.count;
    const result = read !== undefined && !('rejected' in read) ? read : undefined;
    const judged = judgedRound(attempt.attempt, spec as JudgedItemSpec, (each) => this.#checked(runId, itemId, each).filter((one) => one.passed).length);
    if (judged !== undefined) {
      this.#judged(attempt, spec, judged, end, result?.stdoutTail);
      return;
    }
    const { round, index, first } = candidatePlace(attempt.attempt, count);
    const patch = end.outcome === 'succeeded' ? (end.artifacts?.['patch'] ?? null) : null;
    const check = end.outcome === 'succeeded' && patch !== null ? result?.check : undefined;
    const passed = check?.passed === true;
    const entry = settings.audit.append({
      actor: engineActor,
      action: 'candidate.checked',
      entity: { kind: 'attempt', id: attempt.executionId },
      outcome: passed ? 'success' : 'failure',
      runId,
      data: {
        attempt: attempt.attempt,
        candidate: index,
        check: check === undefined ? null : { exitCode: check.exitCode, passed: check.passed, score: check.score },
        itemId,
        outcome: end.outcome,
        patch,
        patchBytes: patch === null ? 0 : (result?.patchStats?.bytes ?? 0),
        round,
        ...(end.failure ? { failure: failureSummary(end.failure) } : {}),
      },
    });
    const roundAttempts = attempts.ofItem(runId, itemId).filter((each) => each.attempt >= first && each.attempt < first + count);
    const live = roundAttempts.filter((each) => each.state === 'dispatching' || each.state === 'running');
    if (passed && spec.select?.stopOnFirstPass === true && live.length > 0) {
      // The first to pass wins: the rest of its round is stopped as a cancel stops an attempt (the
      // reconciler sends the stop), and each ends `cancelled` with what it spent recorded.
      const earlier = this.#checked(runId, itemId, round).filter((each) => each.passed && each.seq !== entry.seq);
      if (earlier.length === 0) for (const other of live) attempts.requestStop(other.executionId, 'cancel');
    }
    // The round is decided at its last end: every candidate's end is in the log before the item's.
    if (live.length > 0 || roundAttempts.length < count) return;
    if (spec.select?.judge !== undefined && !this.#cancelled(runId, itemId) && this.#checked(runId, itemId, round).filter((each) => each.passed).length >= 2) {
      // Two or more passed and the item has a judge: its next attempt, r·N+1, is the judge
      // (`judgedRound`), dispatched as any ready item is; the round is decided when it has ended.
      settings.machine.retryItem(runId, itemId, this.#context.now(), { judge: { round, attempt: round * count + 1 } });
      return;
    }
    this.#decide(attempt, spec, round);
  }

  /**
   * A judge's end (ADR 0053): its answer, the last line of its stdout, read with `readJudgeAnswer`
   * against the round's entries — `candidate.judged` when it chose a passing candidate, else
   * `candidate.judge-refused` (a judge that failed, timed out, was stopped or printed anything else
   * too) — and then the round is decided, by the judge's choice or, refused, by the order. The
   * judge only advises: a refusal never fails the item.
   */
  #judged(attempt: CandidateAttempt, spec: CandidateSpec, round: number, end: CandidateEnd, stdoutTail: string | undefined): void {
    const { settings } = this.#context;
    const { runId, itemId } = attempt;
    const checked = this.#checked(runId, itemId, round);
    const answer =
      end.outcome !== 'succeeded'
        ? { refused: `the judge's attempt ended ${end.outcome}${end.failure ? ` (${end.failure.code})` : ''}: the order decides`, answer: '' }
        : readJudgeAnswer(stdoutTail ?? '', checked);
    const base = { attempt: attempt.attempt, itemId, round };
    if ('chosen' in answer) {
      settings.audit.append({
        actor: engineActor,
        action: 'candidate.judged',
        entity: { kind: 'attempt', id: attempt.executionId },
        outcome: 'success',
        runId,
        data: { ...base, candidate: answer.chosen.candidate, chosen: answer.chosen.attempt, reason: answer.reason },
      });
      this.#decide(attempt, spec, round, { attempt: answer.chosen.attempt, reason: answer.reason });
      return;
    }
    settings.audit.append({
      actor: engineActor,
      action: 'candidate.judge-refused',
      entity: { kind: 'attempt', id: attempt.executionId },
      outcome: 'failure',
      runId,
      data: { ...base, answer: answer.answer, reason: answer.refused },
    });
    this.#decide(attempt, spec, round);
  }

  #cancelled(runId: string, itemId: string): boolean {
    return this.#context.settings.machine.run(runId)?.cancelRequestedBy != null || this.#context.runs.item(runId, itemId)?.cancelRequestedBy != null;
  }

  #decide(attempt: CandidateAttempt, spec: CandidateSpec, round: number, judge?: { readonly attempt: number; readonly reason: string }): void {
    const { settings, runs, attempts } = this.#context;
    const { runId, itemId } = attempt;
    const machine = settings.machine;
    if (this.#cancelled(runId, itemId)) {
      machine.finishItem(runId, itemId, 'cancelled');
      return;
    }
    const checked = this.#checked(runId, itemId, round);
    const order = spec.select!.order;
    const stopOnFirstPass = spec.select!.stopOnFirstPass === true;
    const ranked = rankCandidates(checked, { order, stopOnFirstPass, judge: judge?.attempt });
    const winner = ranked[0];
    const decidedBy = judge !== undefined && winner?.attempt === judge.attempt ? 'judge' : 'order';
    if (winner !== undefined) {
      const artifacts = attempts.ofItem(runId, itemId).find((each) => each.attempt === winner.attempt)?.artifacts ?? {};
      settings.audit.append({
        actor: engineActor,
        action: 'candidate.selected',
        entity: { kind: 'item', id: `${runId}/${itemId}` },
        outcome: 'success',
        runId,
        data: {
          attempt: winner.attempt,
          candidate: winner.candidate,
          candidates: spec.candidates.count,
          decidedBy,
          itemId,
          order,
          passed: ranked.map((each) => each.attempt),
          patch: artifacts['patch'] ?? null,
          reason:
            decidedBy === 'judge'
              ? `the judge's choice among ${ranked.length} passing candidates: ${judge!.reason}`
              : reasonOf(winner, ranked.length, order, stopOnFirstPass),
          round,
          stopOnFirstPass,
        },
      });
      runs.setFailure(runId, itemId, null);
      machine.finishItem(runId, itemId, 'succeeded', engineActor, { candidate: winner.candidate, attempt: winner.attempt }, { ...artifacts });
      return;
    }
    // Said candidate by candidate, whatever order their checks came in.
    const byCandidate = [...checked].sort((a, b) => a.candidate - b.candidate);
    const summary = byCandidate.map((each): JsonObject => ({
      attempt: each.attempt,
      candidate: each.candidate,
      outcome: each.outcome,
      ...(each.check === null ? {} : { check: { exitCode: each.check.exitCode, passed: each.check.passed, score: each.check.score } }),
    }));
    const maxRounds = spec.retry?.maxAttempts ?? 1;
    const roundsLeft = maxRounds - round;
    settings.audit.append({
      actor: engineActor,
      action: 'candidate.none-passed',
      entity: { kind: 'item', id: `${runId}/${itemId}` },
      outcome: 'failure',
      runId,
      data: { candidates: summary, itemId, round, roundsLeft: Math.max(0, roundsLeft) },
    });
    const failure = engineFailure('CAIRN_CANDIDATES_NONE_PASSED', noneMessage(byCandidate, round, roundsLeft > 0));
    runs.setFailure(runId, itemId, failure);
    if (roundsLeft > 0) {
      // A new round from scratch: its candidates get this summary as an input, never a transcript.
      const delay = retryDelay(round, spec.retry?.backoff, settings.random);
      machine.retryItem(runId, itemId, this.#context.now() + delay, { attempt: attempt.attempt, outcome: 'failed', round, roundsLeft });
    } else machine.finishItem(runId, itemId, 'failed', engineActor, { failure: failureSummary(failure), round });
  }

  /** The round's `candidate.checked` entries, in log order: what the decision, and the verifier, read. */
  #checked(runId: string, itemId: string, round: number): RecordedCandidate[] {
    return this.#context.settings.audit
      .runEntriesAfter(runId, -1, Number.MAX_SAFE_INTEGER, ['candidate.checked'])
      .map((entry) => recordedCandidateOf(entry))
      .filter((candidate) => candidate.itemId === itemId && candidate.round === round);
  }
}

function reasonOf(winner: CheckedCandidate, passing: number, order: string, stopOnFirstPass: boolean): string {
  const of = `${passing} passing candidate${passing === 1 ? '' : 's'}`;
  if (stopOnFirstPass) return `the first to pass its check (stopOnFirstPass); the others were stopped`;
  if (order === 'score') return `the highest score (${winner.score ?? 'none'}) of ${of}; ties go to the smaller diff, then the lower candidate`;
  if (order === 'first') return `the first of ${of} to be checked`;
  return `the smallest diff (${winner.patchBytes} bytes) of ${of}; ties go to the lower candidate`;
}

function noneMessage(checked: readonly RecordedCandidate[], round: number, retried: boolean): string {
  const lines = checked.map((each) => {
    const what =
      each.outcome !== 'succeeded'
        ? `${each.outcome}, not checked`
        : each.check === null
          ? 'changed nothing, not checked'
          : `check failed (exit ${each.check.exitCode ?? 'none: stopped or could not run'})`;
    return `candidate ${each.candidate} (attempt ${each.attempt}): ${what}`;
  });
  return `No candidate of round ${round} passed its check: ${lines.join('; ')}. Each check's output is in its attempt's log. ${
    retried ? 'The next round starts fresh, given this summary as the input previous-candidates.' : 'No rounds are left (retry.maxAttempts counts rounds).'
  }`;
}
