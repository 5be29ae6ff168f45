// One store suite over both backends (as River's riverdrivertest runs one suite over its drivers):
// the same runs, items, attempts, audit entries, schedules and secrets, written by an engine, read
// back through `EngineReads` from SQLite (the engine's own reads) and from PostgreSQL (a replica's
// reads of what the leader committed). Each read is checked against what the scenario did, and
// against the engine's own answer from its working copy.
import type { AuditActor, AuditEntry } from '@cairn/core';
import { createInMemoryCipher } from '@cairn/conformance/mocks';
import { isCairnError } from '@cairn/protocol';
import { describe, expect, it } from 'vitest';
import { backends, engineHarness } from '../engine.test-support.ts';
import type { GraphItemRecord } from './engine-reads.ts';

const ana: AuditActor = { kind: 'user', id: 'ana', via: 'cli' };
const bo: AuditActor = { kind: 'user', id: 'bo', via: 'http' };
const command = (...argv: string[]) => ({ kind: 'command' as const, argv });

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const values: T[] = [];
  for await (const value of iterable) values.push(value);
  return values;
}

describe.each(backends)('EngineReads on %s', (backend) => {
  const { engineWith, storeReads } = engineHarness(backend);

  /** A failed run (one item succeeded, one failed, one skipped, one cancelled awaiting approval), a succeeded one, a schedule and a secret. */
  async function scenario() {
    const { engine } = await engineWith({ cipher: createInMemoryCipher() });
    engine.start();
    const mixed = engine.submit(
      {
        version: 1,
        name: 'mixed',
        items: [
          { id: 'ok', runtime: command('true') },
          { id: 'fails', runtime: command('exit', '3') },
          { id: 'skipped', dependsOn: ['fails'], runtime: command('true') },
          { id: 'gated', approval: 'required', runtime: command('true') },
        ],
      },
      { actor: ana },
    ).runId;
    for (let wait = 0; wait < 400 && engine.items(mixed).filter((item) => ['succeeded', 'failed', 'skipped'].includes(item.state)).length < 3; wait++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    engine.cancelItem(mixed, 'gated', ana, 'not needed');
    await engine.waitForRun(mixed);
    // Submitted once the first run has ended, so at a later time: runs are paged newest first, and
    // two submitted in the same millisecond are ordered by their random ids.
    const second = engine.submit({ version: 1, name: 'second', idempotencyKey: 'k-1', items: [{ id: 'only', runtime: command('true') }] }, { actor: bo }).runId;
    await engine.waitForRun(second);
    engine.addSchedule(
      { scheduleId: 'nightly', cron: '0 3 * * *', spec: { version: 1, name: 'nightly', items: [{ id: 'a', runtime: command('true') }] } },
      ana,
    );
    await engine.setSecret('API_TOKEN', 'not-read-back', ana);
    // Stopped, so that nothing more is appended (a checkpoint, its anchoring) between the store's
    // reads and the engine's own answers they are compared with.
    await engine.stop();
    return { engine, mixed, second, reads: await storeReads(engine) };
  }

  it('reads runs, items, attempts and specs as the engine wrote them', async () => {
    const { engine, mixed, second, reads } = await scenario();
    expect(await reads.run(mixed)).toMatchObject({
      runId: mixed,
      name: 'mixed',
      state: 'failed',
      submittedBy: 'ana',
      itemsTotal: 4,
      itemsFinished: 4,
      itemsFailed: 2,
    });
    expect(await reads.run(second)).toMatchObject({ name: 'second', state: 'succeeded', idempotencyKey: 'k-1', submittedBy: 'bo' });
    expect(await reads.run('r-unknown')).toBeUndefined();
    const items = await reads.items(mixed);
    expect(items.map((item) => [item.itemId, item.position, item.state, item.approvalRequired])).toEqual([
      ['ok', 0, 'succeeded', false],
      ['fails', 1, 'failed', false],
      ['skipped', 2, 'skipped', false],
      ['gated', 3, 'cancelled', true],
    ]);
    expect(items[1]!.failure).toMatchObject({ exitCode: 3 });
    expect(await reads.items('r-unknown')).toEqual([]);
    const attempts = await reads.attempts(mixed, 'fails');
    expect(attempts.map((attempt) => [attempt.attempt, attempt.state, attempt.failure?.exitCode])).toEqual([[1, 'failed', 3]]);
    expect((await reads.attempts(mixed, 'ok')).map((attempt) => attempt.state)).toEqual(['succeeded']);
    expect(await reads.attempts(mixed, 'gated')).toEqual([]);
    expect((await reads.spec(mixed))?.items.map((item) => item.id)).toEqual(['ok', 'fails', 'skipped', 'gated']);
    expect(await reads.spec('r-unknown')).toBeUndefined();
    expect(await reads.artifacts(mixed, 'fails')).toBeUndefined();
    // A graph's items: a page by position (after the last one read), or those named (unknown ones left out).
    const graphRow = (item: GraphItemRecord) => [item.itemId, item.position, item.state, item.spec.id, item.prerequisites, item.dependents];
    expect((await reads.graphItems(mixed, { afterPosition: -1, limit: 2 })).map(graphRow)).toEqual([
      ['ok', 0, 'succeeded', 'ok', [], []],
      ['fails', 1, 'failed', 'fails', [], ['skipped']],
    ]);
    expect((await reads.graphItems(mixed, { afterPosition: 1, limit: 2 })).map(graphRow)).toEqual([
      ['skipped', 2, 'skipped', 'skipped', ['fails'], []],
      ['gated', 3, 'cancelled', 'gated', [], []],
    ]);
    expect(await reads.graphItems(mixed, { afterPosition: 3, limit: 2 })).toEqual([]);
    expect((await reads.graphItems(mixed, { itemIds: ['skipped', 'nowhere', 'fails'] })).map((item) => item.itemId)).toEqual(['fails', 'skipped']);
    expect((await reads.graphItems(mixed, { itemIds: ['gated'] }))[0]!.spec).toMatchObject({ approval: 'required', runtime: command('true') });
    expect(await reads.graphItems('r-unknown', { afterPosition: -1, limit: 10 })).toEqual([]);
    // The same records the engine answers from its working copy.
    expect(await reads.items(mixed)).toEqual(engine.items(mixed));
    expect(await reads.run(mixed)).toEqual(engine.run(mixed));
    for (const item of ['ok', 'fails', 'skipped', 'gated']) {
      expect(await reads.attempts(mixed, item)).toEqual(engine.attempts(mixed, item));
      expect(await reads.artifacts(mixed, item)).toEqual(engine.artifacts(mixed, item));
    }
  });

  it('pages runs newest first with filters, and refuses a bad cursor naming it', async () => {
    const { engine, mixed, second, reads } = await scenario();
    const first = await reads.runs({ limit: 1 });
    expect(first.runs.map((run) => run.runId)).toEqual([second]);
    expect(first.nextCursor).toEqual(expect.any(String));
    const next = await reads.runs({ limit: 1, cursor: first.nextCursor! });
    expect(next.runs.map((run) => run.runId)).toEqual([mixed]);
    expect((await reads.runs({ state: 'failed' })).runs.map((run) => run.runId)).toEqual([mixed]);
    expect((await reads.runs({ submitter: 'bo' })).runs.map((run) => run.runId)).toEqual([second]);
    expect(await reads.runs()).toEqual(engine.runs());
    const refusal = await reads.runs({ cursor: 'not-a-cursor' }).then(
      () => expect.unreachable('the cursor was taken'),
      (error: unknown) => error,
    );
    expect(isCairnError(refusal, 'CAIRN_PAYLOAD_INVALID') && refusal.path).toBe('cursor');
  });

  it('reads the audit log by page, by run, by action and by query, as the engine appended it', async () => {
    const { engine, mixed, reads } = await scenario();
    const size = await reads.auditSize();
    expect(size).toBe(engine.audit.size);
    const everything: AuditEntry[] = [];
    for (let from = 0; from < size; from += 7) everything.push(...(await reads.auditPage(from, 7)));
    expect(everything.map((entry) => entry.seq)).toEqual(Array.from({ length: size }, (_, seq) => seq));
    expect(everything).toEqual(engine.audit.page(0, size));
    const submitted = await reads.auditPage(0, 100, ['run.submitted']);
    expect(submitted.map((entry) => entry.actor.id)).toEqual(['ana', 'bo']);
    const ofRun = await reads.runEntriesAfter(mixed, -1, 1_000);
    expect(ofRun.map((entry) => entry.runSeq)).toEqual(ofRun.map((_, index) => index));
    expect(ofRun.at(-1)?.action).toBe('run.failed');
    const middle = ofRun[3]!.seq;
    expect(await reads.runEntriesAfter(mixed, middle, 1_000)).toEqual(ofRun.filter((entry) => entry.seq > middle));
    expect((await reads.runEntriesAfter(mixed, -1, 1_000, ['item.skipped', 'item.cancelled'])).map((entry) => entry.action)).toEqual([
      'item.skipped',
      'item.cancelled',
    ]);
    expect(await collect(reads.auditQuery({ runId: mixed }))).toEqual(ofRun);
    expect((await collect(reads.auditQuery({ action: 'secret.set' }))).map((entry) => entry.entity.id)).toEqual(['API_TOKEN']);
    expect(() => reads.auditQuery({ from: -2 })).toThrow(expect.objectContaining({ code: 'CAIRN_PAYLOAD_INVALID' }));
  });

  it('reads counts, schedules, secrets (never their values) and how far anchoring trails', async () => {
    const { engine, reads } = await scenario();
    const counts = await reads.counts();
    expect(counts.runs).toMatchObject({ failed: 1, succeeded: 1, running: 0, queued: 0 });
    expect(counts.items).toMatchObject({ succeeded: 2, failed: 1, skipped: 1, cancelled: 1 });
    expect({ readyItems: counts.readyItems, liveAttempts: counts.liveAttempts }).toEqual({ readyItems: 0, liveAttempts: 0 });
    const { auditEntries: _entries, unanchoredEntries, pendingCheckpoints, ...engineCounts } = engine.metrics();
    expect(counts).toEqual(engineCounts);
    expect(await reads.anchoringLag()).toEqual({ unanchoredEntries, pendingCheckpoints });
    expect((await reads.schedules()).map((schedule) => [schedule.scheduleId, schedule.cron, schedule.createdBy])).toEqual([['nightly', '0 3 * * *', 'ana']]);
    expect(await reads.schedules()).toEqual(engine.schedules());
    const secrets = await reads.secrets();
    expect(secrets).toEqual([{ name: 'API_TOKEN', version: 1, updatedAt: expect.any(String), updatedBy: 'ana' }]);
    expect(JSON.stringify(secrets)).not.toContain('not-read-back');
  });
});
