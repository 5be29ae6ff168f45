// An attempt lost because its host died is not the item's failure. The server is killed with
// SIGKILL while tasks run (its executor's tasks die with it, as a crashed host's sandboxes do);
// the next incarnation finds the executor no longer knows them. Items re-run without spending
// their retry budget — at most 3 times each, so a poison item that kills its host cannot loop
// forever — each lost attempt audited as `attempt.lost` with its cause; `write-impure` items,
// whose lost attempt may already have had external effects, fail unless their spec says
// `onLost: retry`, and any item can say `onLost: fail`.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AuditEntry } from '@cairn/core';
import Database from 'better-sqlite3';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, test, describe } from 'vitest';
import { ana, engineHarness, backends } from '../engine.test-support.ts';

describe.each(backends)('on %s', (backend) => {
  const { databasePath, engineWith } = engineHarness(backend);
  const child = fileURLToPath(new URL('./lost-child.test-support.ts', import.meta.url));
  const directories: string[] = [];
  // An incarnation still alive when its test ends (failed or timed out) is killed here, not by a
  // fixed guard: a loaded machine may take many seconds to start one, and that is not a failure.
  const children = new Set<ChildProcess>();
  afterEach(() => {
    for (const process_ of children) process_.kill('SIGKILL');
    children.clear();
    for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
  });

  /** Runs one incarnation; in `hang` mode kills it with SIGKILL once its tasks run. */
  function incarnation(
    directory: string,
    mode: 'hang' | 'finish',
    specPath: string,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
    const environment = { ...process.env, NODE_COMPILE_CACHE: join(directory, 'compile-cache') };
    const process_ = spawn(process.execPath, ['--conditions=@cairn/source', child, directory, mode, specPath], {
      env: environment,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(process_);
    let stdout = '';
    let stderr = '';
    process_.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      if (mode === 'hang' && stdout.includes('running\n')) process_.kill('SIGKILL');
    });
    process_.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    return new Promise((resolve) => {
      process_.on('close', (code, signal) => {
        children.delete(process_);
        resolve({ code, signal, stdout, stderr });
      });
    });
  }

  function prepare(spec: object): { directory: string; specPath: string } {
    const directory = mkdtempSync(join(tmpdir(), 'cairn-lost-'));
    directories.push(directory);
    const specPath = join(directory, 'spec.json');
    writeFileSync(specPath, JSON.stringify(spec));
    return { directory, specPath };
  }

  /** The database the incarnations left, read directly. */
  function inspect(directory: string) {
    const database = new Database(join(directory, 'engine.db'), { readonly: true });
    try {
      const entries = database
        .prepare<[], { body: string }>('SELECT body FROM audit_entries ORDER BY seq')
        .all()
        .map((row) => JSON.parse(row.body) as AuditEntry);
      const attempts = database
        .prepare<[], { itemId: string; attempt: number; state: string; failure: string | null }>(
          'SELECT item_id AS itemId, attempt, state, failure FROM attempts ORDER BY item_id, attempt',
        )
        .all();
      const items = Object.fromEntries(
        database
          .prepare<[], { itemId: string; state: string }>('SELECT item_id AS itemId, state FROM items')
          .all()
          .map((row) => [row.itemId, row.state]),
      );
      const attemptsOf = (itemId: string) => attempts.filter((attempt) => attempt.itemId === itemId).map((attempt) => attempt.state);
      const failuresOf = (itemId: string) =>
        attempts
          .filter((attempt) => attempt.itemId === itemId)
          .map((attempt) => (attempt.failure === null ? null : (JSON.parse(attempt.failure) as { code: string; message: string })));
      return { entries, items, attemptsOf, failuresOf };
    } finally {
      database.close();
    }
  }

  const command = (argv: string[]) => ({ kind: 'command' as const, argv });

  test(
    'after a host crash, lost attempts re-run without spending the retry budget; write-impure items fail unless onLost says retry; each loss audited with its cause',
    // Two incarnations, each a node process started from source: minutes on a loaded machine. The
    // test asserts nothing about time; the limit only ends a hung one.
    { timeout: 300_000 },
    async () => {
      const { directory, specPath } = prepare({
        version: 1,
        name: 'lost',
        items: [
          { id: 'plain', runtime: command(['true']) },
          // Lost once (free), then failed once (1 of 2), then succeeded (2 of 2).
          { id: 'budget', retry: { maxAttempts: 2, backoff: { initial: '10ms', jitter: false } }, runtime: command(['fail-once']) },
          { id: 'writer', effect: 'write-impure', runtime: command(['true']) },
          { id: 'writer-retry', effect: 'write-impure', onLost: 'retry', runtime: command(['true']) },
          { id: 'strict', onLost: 'fail', runtime: command(['true']) },
        ],
      });
      const hung = await incarnation(directory, 'hang', specPath);
      expect(hung.signal, hung.stderr).toBe('SIGKILL');
      const finished = await incarnation(directory, 'finish', specPath);
      expect(finished, finished.stderr).toMatchObject({ code: 0 });
      const { entries, items, attemptsOf, failuresOf } = inspect(directory);
      expect(items).toEqual({ plain: 'succeeded', budget: 'succeeded', writer: 'failed', 'writer-retry': 'succeeded', strict: 'failed' });
      expect(attemptsOf('plain')).toEqual(['lost', 'succeeded']);
      expect(attemptsOf('budget')).toEqual(['lost', 'failed', 'succeeded']);
      expect(attemptsOf('writer')).toEqual(['lost']);
      expect(attemptsOf('writer-retry')).toEqual(['lost', 'succeeded']);
      expect(attemptsOf('strict')).toEqual(['lost']);
      const lost = entries.filter((entry) => entry.action === 'attempt.lost');
      expect(lost).toHaveLength(5);
      for (const entry of lost) expect(entry.data['cause'], JSON.stringify(entry)).toEqual(expect.stringContaining('no longer knows the task'));
      // Each lost attempt says so in its failure (and its audit entry names the code); the ones after it say their own.
      for (const entry of lost) expect(entry.data['failure']).toEqual({ code: 'CAIRN_ATTEMPT_LOST' });
      expect(failuresOf('writer')).toEqual([
        expect.objectContaining({ code: 'CAIRN_ATTEMPT_LOST', message: expect.stringContaining('no longer knows the task') }),
      ]);
      expect(failuresOf('budget')).toEqual([
        expect.objectContaining({ code: 'CAIRN_ATTEMPT_LOST' }),
        expect.objectContaining({ code: expect.stringMatching(/^CAIRN_/) }),
        null,
      ]);
      // The write-impure item's failure says why it was not re-run.
      const writerFailed = entries.find((entry) => entry.action === 'item.failed' && entry.entity.id.endsWith('/writer'))!;
      expect(JSON.stringify(writerFailed.data)).toContain('onLost');
      // Exactly once: one terminal entry per item.
      const terminal = entries.filter((entry) => entry.action === 'item.succeeded' || entry.action === 'item.failed').map((entry) => entry.entity.id);
      expect(new Set(terminal).size).toBe(terminal.length);
      expect(terminal).toHaveLength(5);
    },
  );

  // Five incarnations (see above): the limit only ends a hung one, nothing here is timed.
  test('a poison item whose host dies every time it runs is re-run at most 3 times after losses, then fails', { timeout: 600_000 }, async () => {
    const { directory, specPath } = prepare({ version: 1, name: 'poison', items: [{ id: 'poison', runtime: command(['true']) }] });
    for (let crash = 0; crash < 4; crash++) {
      const hung = await incarnation(directory, 'hang', specPath);
      expect(hung.signal, `crash ${crash}: ${hung.stdout}${hung.stderr}`).toBe('SIGKILL');
    }
    const finished = await incarnation(directory, 'finish', specPath);
    expect(finished, finished.stderr).toMatchObject({ code: 0 });
    const { entries, items, attemptsOf, failuresOf } = inspect(directory);
    expect(items).toEqual({ poison: 'failed' });
    expect(attemptsOf('poison')).toEqual(['lost', 'lost', 'lost', 'lost']);
    expect(failuresOf('poison').map((failure) => failure?.code)).toEqual([
      'CAIRN_ATTEMPT_LOST',
      'CAIRN_ATTEMPT_LOST',
      'CAIRN_ATTEMPT_LOST',
      'CAIRN_ATTEMPT_LOST',
    ]);
    expect(entries.filter((entry) => entry.action === 'attempt.lost')).toHaveLength(4);
    expect(entries.filter((entry) => entry.action === 'attempt.dispatched')).toHaveLength(4);
  });

  test("defaults.onLost applies to every item and an item's own onLost wins; a spec with another value is refused naming the field", async () => {
    const path = databasePath();
    const first = await engineWith({ path });
    first.engine.start();
    const { runId } = first.engine.submit(
      {
        version: 1,
        name: 'defaults',
        defaults: { onLost: 'fail' },
        items: [
          { id: 'inherits', runtime: command(['sleep', '60000']) },
          { id: 'own', onLost: 'retry', runtime: command(['sleep', '60000']) },
        ],
      },
      { actor: ana },
    );
    for (let wait = 0; wait < 400 && first.engine.items(runId).some((item) => item.state !== 'running'); wait++) await sleep(5);
    await first.engine.stop();
    // The host died: a new engine whose executor (a new registry) no longer knows the tasks.
    const second = await engineWith({ path });
    second.engine.start();
    for (
      let wait = 0;
      wait < 400 && second.engine.items(runId).some((item) => (item.itemId === 'inherits' ? item.state === 'running' : item.state !== 'running'));
      wait++
    )
      await sleep(5);
    const states = Object.fromEntries(second.engine.items(runId).map((item) => [item.itemId, item.state]));
    expect(states['inherits']).toBe('failed');
    expect(['ready', 'running']).toContain(states['own']);
    const lost = second.engine.audit.runEntries(runId).filter((entry) => entry.action === 'attempt.lost');
    expect(lost.map((entry) => entry.data['itemId']).sort()).toEqual(['inherits', 'own']);
    expect(() =>
      second.engine.submit({ version: 1, name: 'bad', items: [{ id: 'a', onLost: 'sometimes', runtime: command(['true']) }] }, { actor: ana }),
    ).toThrow(
      expect.objectContaining({ code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[0].onLost', message: expect.stringContaining('must be retry or fail') }),
    );
    second.engine.cancelRun(runId, ana);
  });

  test('an item cancelled while its host was down ends cancelled when its task is found gone: it is not re-run as lost', async () => {
    const path = databasePath();
    const first = await engineWith({ path });
    first.engine.start();
    const { runId } = first.engine.submit(
      {
        version: 1,
        name: 'cancel-gone',
        items: [
          { id: 'long', runtime: command(['sleep', '60000']) },
          { id: 'other', runtime: command(['sleep', '60000']) },
        ],
      },
      { actor: ana },
    );
    for (let wait = 0; wait < 400 && first.engine.items(runId).some((item) => item.state !== 'running'); wait++) await sleep(5);
    await first.engine.stop();
    // The host died; before the new engine looks at its tasks, someone cancels one item.
    const second = await engineWith({ path });
    second.engine.cancelItem(runId, 'long', ana);
    second.engine.start();
    for (let wait = 0; wait < 400 && second.engine.items(runId).find((item) => item.itemId === 'long')!.state === 'running'; wait++) await sleep(5);
    expect(second.engine.items(runId).find((item) => item.itemId === 'long')!.state).toBe('cancelled');
    const entries = second.engine.audit.runEntries(runId);
    expect(entries.filter((entry) => entry.action === 'attempt.dispatched' && entry.data['itemId'] === 'long')).toHaveLength(1);
    expect(entries.filter((entry) => entry.action === 'attempt.lost' && entry.data['itemId'] === 'long')).toHaveLength(0);
    second.engine.cancelRun(runId, ana);
  });
});
