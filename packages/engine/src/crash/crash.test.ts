// The crash test: execution at-least-once, completion exactly-once.
//
// One long-lived directory, one 500-item run (one of them a planner whose 25-item fragment joins
// the run when it succeeds), 50 incarnations of the engine each killed with
// SIGKILL at a seeded point — mid submit, between a committed dispatch and the task's result,
// between the result and the recorded completion, mid checkpoint, mid anchor, inside an arbitrary
// transaction, after an arbitrary delay — and after every kill the database the dead process left
// is checked read-only (see crash-checks.test-support.ts). Each restart resubmits (same idempotency
// key: the same run) and carries on; a last incarnation without a kill point must finish the run:
// every item succeeded exactly once, nothing lost, one run, and the log verifies against its last
// signed checkpoint, from whichever incarnation signed it.
//
// It runs on both backends. On PostgreSQL (ADR 0023) each incarnation loads a working copy from the
// store and commits to it in group commits; after each kill what the store holds is loaded into
// memory (a fresh load, the way the next writer sees it) and checked.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PublicKeyRecord } from '@cairn/core';
import { verifyBundle, verifyLog } from '@cairn/audit';
import { expect, test } from 'vitest';
import { backends } from '../engine.test-support.ts';
import { createTestDatabase } from '../store/postgres/postgres.test-support.ts';
import type { CrashProgress } from './crash-checks.test-support.ts';
import { inspectCrashState, runChild, type Linger } from './crash-runner.test-support.ts';
import {
  between,
  crashRunSpec,
  formatKillPoint,
  grownItemCount,
  itemCount,
  plannerId,
  seededRandom,
  type FailpointKind,
  type KillPoint,
} from './crash-plan.test-support.ts';
import { DirectoryAnchor, persistentSigner, readJournal } from './durable-seams.test-support.ts';

/** The seed of the DAG and of the kill plan; CAIRN_CRASH_SEED=<n> replays another. */
const seed = Number(process.env['CAIRN_CRASH_SEED'] ?? 20_261_122);
const kills = 50;
const submitKills = 3;
const checkpointEveryEntries = 150;

type PlannedKind = FailpointKind | 'linger-spawn' | 'linger-started';

/** Kinds whose counts are bounded by the items still to run: none of them can let the run end. */
const itemKinds: readonly FailpointKind[] = ['executor-start', 'task-ran', 'task-result', 'exit-push', 'manifest-put', 'engine-now'];
/** Kills at the end that only item kinds take, so the run is still unfinished for the last one. */
const reservedAtEnd = 4;

/**
 * The kinds of the kills after the submit ones: every kind at least 4 times, drawn and shuffled;
 * then `reservedAtEnd` item kinds; and last, the run's end.
 */
function killPlan(random: () => number): PlannedKind[] {
  const kinds: PlannedKind[] = [...itemKinds, 'checkpoint-sign', 'anchor-publish', 'linger-spawn', 'linger-started'];
  const free = kills - submitKills - reservedAtEnd - 1;
  const plan: PlannedKind[] = kinds.flatMap((kind) => [kind, kind, kind, kind]);
  while (plan.length < free) plan.push(kinds[between(random, 0, kinds.length - 1)]!);
  for (let index = plan.length - 1; index > 0; index--) {
    const other = between(random, 0, index);
    [plan[index], plan[other]] = [plan[other]!, plan[index]!];
  }
  const end = Array.from({ length: reservedAtEnd }, () => itemKinds[between(random, 0, itemKinds.length - 1)]!);
  // The last kill lets the run end and dies signing the checkpoint that would cover its end.
  return [...plan.slice(0, free), ...end, 'run-end-checkpoint'];
}

/** Where the run is, and how long children take to start their engine (for delays that land in startup). */
interface Situation {
  readonly progress: CrashProgress | undefined;
  /** The quickest spawn-to-engine-start seen so far. */
  readonly startupMs: number;
  readonly roots: number;
}

/**
 * The kill point of incarnation `index`. Counts are drawn from what the incarnation is sure to
 * reach — an item still to run (ready or blocked) needs at least one start, one task run, one
 * result, one pushed exit, one manifest and several `now()`s before the run can end; a run with
 * at least 75 such items writes 300 more entries, so checkpoints fall due (every 150) before its
 * end — and kept near the remaining work per remaining kill, so the kills spread over the whole
 * run instead of finishing it early. A kind that cannot be reached now falls back to one that can.
 */
function choose(index: number, planned: PlannedKind, situation: Situation, random: () => number): { point: KillPoint; linger?: Linger } {
  if (index < submitKills) {
    // submit calls now() once for the run id, then once per entry: run.submitted and each root's item.ready.
    return { point: { kind: 'submit-now', count: between(random, 1, 2 + situation.roots) } };
  }
  const { progress } = situation;
  const needNew = progress?.needNew ?? itemCount;
  const dispatching = progress?.attempts['dispatching'] ?? 0;
  const runEnded = progress?.runState !== undefined && progress.runState !== 'queued' && progress.runState !== 'running';
  const share = needNew / (kills - index);
  const cap = Math.max(1, Math.ceil(1.5 * share));
  const checkpointsAhead = Math.min(2, Math.floor((4 * needNew) / (2 * checkpointEveryEntries)));
  const bounds: Record<FailpointKind, readonly [bound: number, spread: number]> = {
    'submit-now': [0, 0],
    'executor-start': [needNew + dispatching, cap + dispatching],
    'task-ran': [needNew, cap],
    'task-result': [needNew, cap],
    'exit-push': [needNew, cap],
    'manifest-put': [needNew, cap],
    'engine-now': [3 * needNew, 5 * cap],
    // Aimed at by the planner crash test only.
    'planner-moment': [0, 0],
    'planner-window-end': [0, 0],
    'checkpoint-sign': [checkpointsAhead, 2],
    'anchor-publish': [checkpointsAhead, 2],
    'run-end-checkpoint': [runEnded ? 0 : 1, 1],
  };
  const lingerStarted = {
    point: { kind: 'linger' } as const,
    linger: { after: 'started' as const, delayMs: between(random, 0, Math.min(40, Math.max(2, Math.round(share)))) },
  };
  if (planned === 'linger-spawn') return { point: { kind: 'linger' }, linger: { after: 'spawn', delayMs: between(random, 0, situation.startupMs) } };
  if (planned === 'linger-started') return lingerStarted;
  for (const kind of [planned, 'task-ran', 'engine-now'] as const) {
    const [bound, spread] = bounds[kind];
    if (bound >= 1) return { point: { kind, count: between(random, 1, Math.min(bound, spread)) } };
  }
  return lingerStarted;
}

function describe(progress: CrashProgress): string {
  const items = Object.entries(progress.items)
    .map(([state, count]) => `${state} ${count}`)
    .join(', ');
  const attempts = Object.entries(progress.attempts)
    .map(([state, count]) => `${state} ${count}`)
    .join(', ');
  return `run ${progress.runState ?? 'none'}; items: ${items || 'none'}; attempts: ${attempts || 'none'}; ${progress.auditEntries} entries, ${progress.checkpoints} checkpoints`;
}

for (const backend of backends)
  test(
    `crash test on ${backend} (seed ${seed}): ${kills} SIGKILLs over one run of ${itemCount} items, one a planner adding ${grownItemCount - itemCount} — execution at-least-once, completion and growth exactly-once`,
    // Fifty incarnations, each a fresh process: minutes on a loaded machine, and the limit only catches a hang.
    { timeout: 420_000 },
    async () => {
      const testStarted = performance.now();
      const base = mkdtempSync(join(tmpdir(), 'cairn-crash-'));
      const directory = join(base, 'engine');
      const store = backend === 'postgres' ? await createTestDatabase() : undefined;
      const history: string[] = [];
      let passed = false;
      try {
        const signer = persistentSigner(join(directory, 'signer.pem'));
        const trustedKey: PublicKeyRecord = {
          keyId: await signer.keyId(),
          algorithm: signer.algorithm,
          publicKey: Buffer.from(await signer.publicKey()).toString('base64'),
        };
        const spec = crashRunSpec(seed);
        const roots = spec.items.filter((item) => item.dependsOn === undefined).length;
        const failFirst = spec.items.filter((item) => item.runtime.argv[0] === 'fail-first').length;
        const random = seededRandom(seed ^ 0x5eed);
        const plan = killPlan(random);
        let progress: CrashProgress | undefined;
        let killsMidRun = 0;
        let startupMs = 150;
        /** Incarnations whose submit created the run (the others got it back by its idempotency key). */
        let created = 0;
        const countCreated = (stdout: string) => {
          const line = stdout.split('\n').find((text) => text.startsWith('started '));
          if (line && (JSON.parse(line.slice('started '.length)) as { created: boolean }).created) created++;
        };

        for (let index = 0; index < kills; index++) {
          const { point, linger } = choose(index, plan[index - submitKills] ?? 'linger-spawn', { progress, startupMs, roots }, random);
          const label = `#${index} ${formatKillPoint(point)}${linger ? ` ${linger.delayMs}ms after ${linger.after}` : ''}`;
          const exit = await runChild({ directory, store, seed, point, ...(linger ? { linger } : {}) });
          countCreated(exit.stdout);
          if (exit.startedAfterMs !== undefined) startupMs = Math.min(startupMs, exit.startedAfterMs);
          // Died by SIGKILL — its own failpoint's (so the point was reached), or ours (a delay).
          const reached = exit.signal === 'SIGKILL' && exit.killedByParent === (point.kind === 'linger');
          history.push(`${label}: ${exit.signal ?? `exit ${exit.code}`} after ${exit.ms} ms`);
          expect(reached, `${label} was not reached: ${exit.signal ?? `exit ${exit.code}`}\n${exit.stdout}${exit.stderr}`).toBe(true);
          const inspection = await inspectCrashState(directory, store, trustedKey);
          expect(inspection.problems, `after ${label}`).toEqual([]);
          if (point.kind === 'submit-now') {
            // Submit is one transaction: killed inside it, nothing of the run is left.
            expect(inspection.progress.runId, `after ${label}`).toBeUndefined();
            expect(inspection.progress.auditEntries, `after ${label}`).toBe(0);
          }
          if (inspection.progress.runState === 'running' || inspection.progress.runState === 'queued') killsMidRun++;
          progress = inspection.progress;
          history[history.length - 1] += `; ${describe(progress)}`;
        }

        // The last incarnation has no kill point: it must finish the run.
        const last = await runChild({ directory, store, seed, point: { kind: 'none' } });
        history.push(`final: ${last.signal ?? `exit ${last.code}`} after ${last.ms} ms`);
        countCreated(last.stdout);
        expect(last, `the final incarnation failed:\n${last.stdout}${last.stderr}`).toMatchObject({ code: 0, signal: null });
        const { problems, progress: final, entries } = await inspectCrashState(directory, store, trustedKey);
        history[history.length - 1] += `; ${describe(final)}`;
        expect(problems).toEqual([]);
        expect(final.runState).toBe('succeeded');
        expect(final.items).toEqual({ succeeded: grownItemCount });
        // Exactly once: one item.succeeded per item (the planner's included: its fragment joined the
        // run once, whenever an engine died), one completion per attempt, none lost, and no attempt
        // beyond the ones the spec asks for (every fail-first item fails once, then succeeds).
        expect(entries.filter((entry) => entry.action === 'run.extended').map((entry) => entry.data['emitter'])).toEqual([plannerId]);
        const succeeded = entries.filter((entry) => entry.action === 'item.succeeded').map((entry) => entry.entity.id);
        expect(succeeded).toHaveLength(grownItemCount);
        expect(new Set(succeeded).size).toBe(grownItemCount);
        expect(final.actions['attempt.lost'] ?? 0).toBe(0);
        expect(final.attempts).toEqual({ succeeded: grownItemCount, ...(failFirst > 0 ? { failed: failFirst } : {}) });
        expect(final.actions['attempt.completed']).toBe(grownItemCount + failFirst);
        expect(final.actions['run.submitted']).toBe(1);
        expect(created).toBe(1);
        // The log verifies against the last checkpoint, signed by whichever incarnation signed it.
        const verification = verifyLog(entries, final.lastCheckpoint!, [trustedKey]);
        expect(verification, verification.detail).toMatchObject({ valid: true });
        const runEnd = entries.find((entry) => entry.action === 'run.succeeded')!;
        expect(JSON.parse(Buffer.from(final.lastCheckpoint!.payload, 'base64').toString('utf8')).treeSize).toBeGreaterThan(runEnd.seq);
        // So does the run's evidence bundle, its checkpoint read back live from the anchor.
        const anchor = new DirectoryAnchor(join(directory, 'anchor'));
        const report = await verifyBundle(JSON.parse(readFileSync(join(directory, 'bundle.json'), 'utf8')), {
          trustedKeys: [trustedKey],
          readAnchor: (receipt) => anchor.read(receipt),
        });
        expect(report.checks.filter((check) => check.status === 'fail')).toEqual([]);
        expect(report.valid).toBe(true);
        // At least once: every attempt ran, and some ran more than once (their process died mid-task).
        const journal = readJournal(join(directory, 'executor'));
        for (const executionId of final.attemptStates.keys()) expect(journal.get(executionId)?.run ?? 0, executionId).toBeGreaterThanOrEqual(1);
        const ranAgain = [...journal.values()].filter((counts) => counts.run > 1).length;
        expect(ranAgain).toBeGreaterThan(0);
        // Restarts asked again for starts the executor had already recorded; it never started one twice.
        const startedAgain = [...journal.values()].filter((counts) => counts.start > 1).length;
        const recovered = entries.filter((entry) => entry.action === 'attempt.started' && entry.data['recovered'] === true).length;
        // The kills were spread over the run, not spent after it ended; the last one hit its end.
        expect(killsMidRun).toBeGreaterThanOrEqual(30);
        expect(history[kills - 1]).toMatch(new RegExp(`^#${kills - 1} run-end-checkpoint:1: SIGKILL`));
        passed = true;
        if (process.env['CAIRN_CRASH_VERBOSE']) console.info(history.join('\n'));
        console.info(
          `crash test seed ${seed}: ${kills} kills (${killsMidRun} left the run unfinished), ${recovered} dispatched attempts re-started on recovery ` +
            `(${startedAgain} of them already known to the executor), ${ranAgain} executions ran more than once, ` +
            `${final.auditEntries} audit entries, ${final.checkpoints} checkpoints, ${Math.round(performance.now() - testStarted)} ms`,
        );
      } catch (error) {
        (error as Error).message =
          `crash test failed — seed ${seed} (replay: CAIRN_CRASH_SEED=${seed}); directory kept at ${base}\n${history.join('\n')}\n\n${(error as Error).message}`;
        throw error;
      } finally {
        if (passed) rmSync(base, { recursive: true, force: true });
        await store?.drop();
      }
    },
  );
