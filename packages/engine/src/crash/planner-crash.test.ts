// The planner crash test: a planner's fragment joins its run exactly once, whenever the engine dies
// around the planner's success (ADR 0034).
//
// One run, a chain of planners each waiting on the fragment of the one before, so each succeeds
// alone. Incarnation k of the engine is killed (SIGKILL to itself) at a moment after planner k's
// result is written: the Nth write to the engine's database, commit of it, group commit sent or
// acknowledged (PostgreSQL), object stored, executor start or pushed exit — from the planner's
// result through its success and fragment being committed to the fragment's first item started
// (see `PlannerMoment`). The first incarnation measures that window (it dies at its end); the next
// `kills` die at seeded moments spread over it, one per stretch of the window. After every kill the
// database the dead process left is checked read-only (crash-checks.test-support.ts), and the
// next incarnation restarts, recovers that planner's success and carries on to the next planner; a
// last one without a kill point finishes the run: every planner's fragment added once (one
// `run.extended`, its 25 items), every item ended once, no attempt lost, the log verifies.
//
// On both backends; on PostgreSQL (ADR 0023) a kill loses what was not group-committed, and the
// checks read what the store holds, loaded into memory as the next engine would load it.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PublicKeyRecord } from '@cairn/core';
import { verifyBundle, verifyLog } from '@cairn/audit';
import { expect, test } from 'vitest';
import { backends } from '../engine.test-support.ts';
import { createTestDatabase } from '../store/postgres/postgres.test-support.ts';
import { inspectCrashState, runChild } from './crash-runner.test-support.ts';
import {
  between,
  chainedPlannerId,
  chainedPlanners,
  chainGrownItemCount,
  emittedCount,
  formatKillPoint,
  seededRandom,
  type KillPoint,
  type PlannerMoment,
} from './crash-plan.test-support.ts';
import { DirectoryAnchor, persistentSigner } from './durable-seams.test-support.ts';

/** The seed of the kill moments; CAIRN_CRASH_SEED=<n> replays another. */
const seed = Number(process.env['CAIRN_CRASH_SEED'] ?? 20_261_127);
/** Seeded kills, one per planner after the first (whose incarnation measures the window). */
const kills = chainedPlanners - 1;

/** What a child printed when the first item of its planner's fragment was started. */
interface PlannerWindow {
  readonly planner: string;
  readonly moments: number;
  readonly kinds: readonly PlannerMoment[];
}

function windowOf(stdout: string): PlannerWindow | undefined {
  const line = stdout.split('\n').find((text) => text.startsWith('window '));
  return line === undefined ? undefined : (JSON.parse(line.slice('window '.length)) as PlannerWindow);
}

/**
 * The moments to kill at, 1..`window`: the window cut into `kills` stretches in order, one moment
 * drawn in each, so the kills cover it from the planner's result to its fragment's first start.
 */
function killMoments(window: number, random: () => number): number[] {
  return Array.from({ length: kills }, (_, index) => {
    const low = Math.floor((index * window) / kills) + 1;
    const high = Math.max(low, Math.floor(((index + 1) * window) / kills));
    return between(random, low, high);
  });
}

for (const backend of backends)
  test(
    `planner crash test on ${backend} (seed ${seed}): ${kills} SIGKILLs between a planner's result and its fragment's first dispatch — the fragment joins the run exactly once`,
    // Twenty-two incarnations, each a fresh process: the limit only catches a hang.
    { timeout: 240_000 },
    async () => {
      const testStarted = performance.now();
      const base = mkdtempSync(join(tmpdir(), 'cairn-planner-crash-'));
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
        const random = seededRandom(seed);
        let moments: number[] = [];
        let window: PlannerWindow | undefined;
        /** Kills that left the planner's fragment committed (the others left it to the restart). */
        let committedBeforeKill = 0;
        /** Time spent in the children, and in reading what they left. */
        let childMs = 0;
        let checkMs = 0;

        for (let index = 0; index <= kills; index++) {
          const planner = chainedPlannerId(index);
          // The first incarnation dies at the end of its window, having printed it; the others inside it.
          const point: KillPoint = index === 0 ? { kind: 'planner-window-end', count: 1 } : { kind: 'planner-moment', count: moments[index - 1]! };
          const kind = index === 0 ? 'window end' : window!.kinds[point.count - 1];
          const label = `#${index} ${planner} ${formatKillPoint(point)} (${kind})`;
          const exit = await runChild({ directory, store, seed, point, run: 'planner-chain' });
          childMs += exit.ms;
          history.push(`${label}: ${exit.signal ?? `exit ${exit.code}`} after ${exit.ms} ms`);
          expect(exit.signal === 'SIGKILL' && !exit.killedByParent, `${label} was not reached\n${exit.stdout}${exit.stderr}`).toBe(true);
          if (index === 0) {
            window = windowOf(exit.stdout);
            expect(window?.planner).toBe(planner);
            moments = killMoments(window!.moments, random);
            history[0] += `; window of ${window!.moments} moments: ${window!.kinds.join(' ')}`;
          }
          const checkStarted = performance.now();
          const { problems, entries } = await inspectCrashState(directory, store, trustedKey);
          checkMs += performance.now() - checkStarted;
          expect(problems, `after ${label}`).toEqual([]);
          // Every planner before this one added its fragment once; this one at most once, so far.
          const emitters = entries.filter((entry) => entry.action === 'run.extended').map((entry) => entry.data['emitter']);
          const before = Array.from({ length: index }, (_, earlier) => chainedPlannerId(earlier));
          expect([before, [...before, planner]], `after ${label}`).toContainEqual(emitters);
          if (emitters.length > index) committedBeforeKill++;
          history[history.length - 1] += `; fragment ${emitters.length > index ? 'committed' : 'not committed'}, ${entries.length} entries`;
        }

        // The last incarnation has no kill point: it must finish the run.
        const last = await runChild({ directory, store, seed, point: { kind: 'none' }, run: 'planner-chain' });
        history.push(`final: ${last.signal ?? `exit ${last.code}`} after ${last.ms} ms`);
        expect(last, `the final incarnation failed:\n${last.stdout}${last.stderr}`).toMatchObject({ code: 0, signal: null });
        const { problems, progress, entries } = await inspectCrashState(directory, store, trustedKey);
        expect(problems).toEqual([]);
        expect(progress.runState).toBe('succeeded');
        expect(progress.items).toEqual({ succeeded: chainGrownItemCount });
        // Exactly once: each planner's fragment joined the run in one `run.extended` of its 25 items,
        // each of them (and every other item) ended once; none lost, no attempt beyond the first.
        const extended = entries.filter((entry) => entry.action === 'run.extended');
        const planners = Array.from({ length: chainedPlanners }, (_, index) => chainedPlannerId(index));
        expect(extended.map((entry) => entry.data['emitter'])).toEqual(planners);
        expect(extended.map((entry) => entry.data['items'])).toEqual(planners.map(() => emittedCount));
        const succeeded = entries.filter((entry) => entry.action === 'item.succeeded').map((entry) => entry.entity.id);
        expect(succeeded).toHaveLength(chainGrownItemCount);
        expect(new Set(succeeded).size).toBe(chainGrownItemCount);
        // An item's entity id is `<runId>/<itemId>`; a fragment's item ids `<planner>/<id>`.
        for (const planner of planners)
          expect(
            succeeded.filter((id) => id.includes(`/${planner}/`)),
            planner,
          ).toHaveLength(emittedCount);
        expect(progress.actions['attempt.lost'] ?? 0).toBe(0);
        expect(progress.attempts).toEqual({ succeeded: chainGrownItemCount });
        expect(progress.actions['run.submitted']).toBe(1);
        // The log verifies against its last checkpoint, and the run's evidence bundle verifies.
        const verification = verifyLog(entries, progress.lastCheckpoint!, [trustedKey]);
        expect(verification, verification.detail).toMatchObject({ valid: true });
        const anchor = new DirectoryAnchor(join(directory, 'anchor'));
        const report = await verifyBundle(JSON.parse(readFileSync(join(directory, 'bundle.json'), 'utf8')), {
          trustedKeys: [trustedKey],
          readAnchor: (receipt) => anchor.read(receipt),
        });
        expect(report.checks.filter((check) => check.status === 'fail')).toEqual([]);
        // The kills fell on both sides of the fragment's commit.
        expect(committedBeforeKill).toBeGreaterThan(0);
        expect(committedBeforeKill).toBeLessThan(kills + 1);
        passed = true;
        if (process.env['CAIRN_CRASH_VERBOSE']) console.info(history.join('\n'));
        console.info(
          `planner crash test on ${backend}, seed ${seed}: ${kills + 1} kills in a window of ${window!.moments} moments ` +
            `(${committedBeforeKill} after the fragment was committed), ${progress.auditEntries} audit entries, ${Math.round(performance.now() - testStarted)} ms ` +
            `(${childMs + last.ms} in the children, ${Math.round(checkMs)} checking what they left)`,
        );
      } catch (error) {
        (error as Error).message =
          `planner crash test failed — seed ${seed} (replay: CAIRN_CRASH_SEED=${seed}); directory kept at ${base}\n${history.join('\n')}\n\n${(error as Error).message}`;
        throw error;
      } finally {
        if (passed) rmSync(base, { recursive: true, force: true });
        await store?.drop();
      }
    },
  );
