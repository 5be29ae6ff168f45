// ADR 0023: nothing the engine writes leaves it (a task started, a checkpoint anchored, a run
// waiter told) before the group commit that makes it durable has resolved; a commit that fails
// (a writer that lost its lease) lets nothing out.
import { setTimeout as sleep } from 'node:timers/promises';
import { createInMemoryAuditAnchor, createInMemoryExecutor, createInMemorySigner, createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createEngine } from './engine.ts';
import { ana, engineHarness, eventually } from './engine.test-support.ts';

const { engineWith, runs } = engineHarness();
const spec = { version: 1, name: 'gated', items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] } }] };

/** A commit that waits while `hold()` says so, until the test opens it (or fails it), counting the calls. */
function gate(hold: () => boolean = () => true) {
  let open = false;
  let failing = false;
  let calls = 0;
  const waiting = new Set<() => void>();
  const commit = async () => {
    calls++;
    while (!open && hold()) {
      if (failing) throw new Error('the writer lost its lease');
      await new Promise<void>((resolve) => waiting.add(resolve));
    }
    if (failing) throw new Error('the writer lost its lease');
  };
  const wake = () => {
    for (const resolve of waiting) resolve();
    waiting.clear();
  };
  return {
    commit,
    get calls() {
      return calls;
    },
    open: () => ((open = true), wake()),
    fail: () => ((failing = true), wake()),
  };
}

describe('the group commit before effects (ADR 0023)', () => {
  it('starts no task and tells no waiter before the commit of its dispatch has resolved', async () => {
    let runId = '';
    // Commits go through until the item's dispatch is written; that one is held.
    const commit = gate(() => runId !== '' && engine.attempts(runId, 'a').length > 0);
    const { engine } = await engineWith({ commit: commit.commit });
    onTestFinished(() => commit.open());
    engine.start();
    runId = engine.submit(spec, { actor: ana }).runId;
    let ended = false;
    void engine.waitForRun(runId).then(() => (ended = true));
    await eventually(() => engine.attempts(runId, 'a').length > 0);
    await sleep(100);
    // The dispatch is written to the working copy, but its task has not started.
    expect(engine.attempts(runId, 'a').map((attempt) => attempt.state)).toEqual(['dispatching']);
    expect(runs.get(`${runId}/a/1`)).toBeUndefined();
    expect(ended).toBe(false);
    commit.open();
    expect((await engine.waitForRun(runId)).state).toBe('succeeded');
    expect(runs.get(`${runId}/a/1`)).toBe(1);
  });

  it("goes on deciding while a commit is in flight: a later pass is recorded while the first pass's task waits for its commit", async () => {
    let first = '';
    // Commits go through until the first run's dispatch is written; from then on they are held.
    const commit = gate(() => first !== '' && engine.attempts(first, 'a').length > 0);
    const { engine } = await engineWith({ commit: commit.commit });
    onTestFinished(() => commit.open());
    engine.start();
    first = engine.submit(spec, { actor: ana }).runId;
    await eventually(() => engine.attempts(first, 'a').length > 0);
    // A run submitted while the commit carrying the first dispatch is held: the loop decides on it
    // at once, and its task, too, waits for a commit.
    const second = engine.submit({ ...spec, name: 'second' }, { actor: ana }).runId;
    await eventually(() => engine.attempts(second, 'a').length > 0);
    await sleep(50);
    expect(engine.attempts(first, 'a').map((attempt) => attempt.state)).toEqual(['dispatching']);
    expect(engine.attempts(second, 'a').map((attempt) => attempt.state)).toEqual(['dispatching']);
    expect(runs.get(`${first}/a/1`)).toBeUndefined();
    expect(runs.get(`${second}/a/1`)).toBeUndefined();
    commit.open();
    expect((await engine.waitForRun(first)).state).toBe('succeeded');
    expect((await engine.waitForRun(second)).state).toBe('succeeded');
    expect([runs.get(`${first}/a/1`), runs.get(`${second}/a/1`)]).toEqual([1, 1]);
  });

  it('starts nothing of any pass whose commit failed, the passes the loop made while it was in flight included', async () => {
    let first = '';
    const commit = gate(() => first !== '' && engine.attempts(first, 'a').length > 0);
    const { engine } = await engineWith({ commit: commit.commit });
    engine.start();
    first = engine.submit(spec, { actor: ana }).runId;
    await eventually(() => engine.attempts(first, 'a').length > 0);
    const second = engine.submit({ ...spec, name: 'second' }, { actor: ana }).runId;
    await eventually(() => engine.attempts(second, 'a').length > 0);
    // The writer loses its lease while both passes' starts wait for their commits.
    commit.fail();
    await sleep(100);
    await engine.stop();
    expect(runs.get(`${first}/a/1`)).toBeUndefined();
    expect(runs.get(`${second}/a/1`)).toBeUndefined();
    expect(engine.attempts(first, 'a').map((attempt) => attempt.state)).toEqual(['dispatching']);
    expect(engine.attempts(second, 'a').map((attempt) => attempt.state)).toEqual(['dispatching']);
  });

  it('stops only once the starts waiting for a commit have settled', async () => {
    let runId = '';
    const commit = gate(() => runId !== '' && engine.attempts(runId, 'a').length > 0);
    const { engine } = await engineWith({ commit: commit.commit });
    engine.start();
    runId = engine.submit(spec, { actor: ana }).runId;
    await eventually(() => engine.attempts(runId, 'a').length > 0);
    let stopped = false;
    const stopping = engine.stop().then(() => (stopped = true));
    await sleep(100);
    expect(stopped).toBe(false);
    commit.open();
    await stopping;
    // The start went out once its commit landed, and was recorded before the engine stopped.
    expect(engine.attempts(runId, 'a').map((attempt) => attempt.state)).not.toContain('dispatching');
  });

  it("tells a run's waiter only once a commit carrying the run's end has resolved, also when the last exit was recorded while the loop's commit was in flight", async () => {
    // A group commit as PostgreSQL's: commits run one after another, each carries what was written
    // before it began (here the run's state), and it is durable once it resolves.
    let runId = '';
    let durableState: string | undefined;
    let tail: Promise<void> = Promise.resolve();
    const commit = () => {
      const next = tail.then(async () => {
        const carried = runId === '' ? undefined : engine.run(runId)?.state;
        await sleep(3);
        if (carried !== undefined) durableState = carried;
      });
      tail = next;
      return next;
    };
    // Tasks that exit at once and push it: exits are recorded while the loop's commits are in flight.
    const engine = createEngine({
      database: ':memory:',
      executors: { local: createInMemoryExecutor({ run: async () => 0 }) },
      storage: createInMemoryStorageProvider(),
      signer: createInMemorySigner(),
      concurrency: 50,
      reconcileIntervalMs: 60_000,
      commit,
    });
    onTestFinished(() => engine.close());
    engine.start();
    for (let round = 0; round < 3; round++) {
      const items = Array.from({ length: 300 }, (_, index) => ({ id: `item-${index}`, runtime: { kind: 'command', argv: ['true'] } }));
      durableState = undefined;
      runId = engine.submit({ version: 1, name: `race-${round}`, items }, { actor: ana }).runId;
      expect((await engine.waitForRun(runId)).state).toBe('succeeded');
      // What the waiter was told is what a reader of the state store reads now.
      expect(durableState, `round ${round}`).toBe('succeeded');
    }
  });

  it('anchors no checkpoint whose commit failed', async () => {
    let runId = '';
    let failed = 0;
    const anchored: number[] = [];
    const anchor = createInMemoryAuditAnchor();
    const anchorOnce = anchor.anchor.bind(anchor);
    anchor.anchor = async (checkpoint) => (anchored.push(checkpoint.treeSize), anchorOnce(checkpoint));
    // Commits go through until the run has ended; from then on the writer has lost its lease.
    const { engine } = await engineWith({
      anchors: [anchor],
      commit: async () => {
        if (runId !== '' && engine.run(runId)?.state === 'succeeded') {
          failed++;
          throw new Error('the writer lost its lease');
        }
      },
    });
    engine.start();
    runId = engine.submit(spec, { actor: ana }).runId;
    await eventually(() => failed > 3);
    expect(engine.run(runId)?.state).toBe('succeeded');
    expect(runs.get(`${runId}/a/1`)).toBe(1);
    // The run's end issued a checkpoint in the working copy; it never left for its anchor.
    expect(engine.metrics().pendingCheckpoints).toBeGreaterThan(0);
    expect(anchored).toEqual([]);
  });
});
