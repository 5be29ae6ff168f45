import { setTimeout as sleep } from 'node:timers/promises';
import type { DispatchManifest, ItemSpec, StorageProviderV1, TaskEnvelope } from '@cairn/core';
import { keyIdOf, modelCallSpend, storedManifestPayload, verifyBundle } from '@cairn/audit';
import { blobKey, canonicalJsonBytes, resultKey, sha256Digest } from '@cairn/protocol';
import { describe, expect, test } from 'vitest';
import { ana, backends, engineHarness } from './engine.test-support.ts';
import type { Engine } from './engine.ts';

/**
 * A stand-in worker that keeps the result record contract (ADR 0053): each candidate's argv says
 * what it does — `exit=N`, `patch=BYTES` (a patch of that size), `check=pass|fail`, `score=X`,
 * `sleep=MS` (stoppable: a stopped candidate reports `cancelled`, as a worker does), `spend=TOKENS`
 * (a model call of that many input tokens, recorded as the gateway records one), `after=N` (first
 * wait until the run has N model calls), `say=TEXT` (its stdout, URI-encoded; an agent's prompt says
 * the same things) — and its result names its patch, its size and its check.
 * What each manifest said is kept by execution id.
 */
function candidateWorker(manifests: Map<string, DispatchManifest>, gateway: { engine?: Engine } = {}) {
  return (storage: StorageProviderV1) =>
    async (task: TaskEnvelope, signal: AbortSignal): Promise<number> => {
      const envelope = JSON.parse(new TextDecoder().decode((await storage.get(`manifests/${task.manifestDigest.slice(7)}.json`))!));
      const manifest = JSON.parse(Buffer.from(storedManifestPayload(envelope), 'base64').toString('utf8')) as DispatchManifest;
      manifests.set(task.executionId, manifest);
      // An agent (a judge) says what it does in its prompt, the same way.
      const argv =
        manifest.runtime.kind === 'command' ? manifest.runtime.argv : manifest.runtime.kind === 'agent' ? ['agent', ...manifest.runtime.prompt.split(' ')] : [];
      const says = Object.fromEntries(argv.slice(1).map((part) => part.split('=') as [string, string]));
      if (says['spend'] !== undefined)
        await gateway.engine!.recordModelCall({
          executionId: task.executionId,
          provider: 'openai',
          api: 'openai-chat',
          model: 'gpt-4o-mini',
          stream: false,
          request: sha256Digest(new TextEncoder().encode(task.executionId)),
          outcome: 'success',
          status: 200,
          latencyMs: 1,
          inputTokens: Number(says['spend']),
          outputTokens: 0,
        });
      const calls = () => [...gateway.engine!.audit.runEntries(manifest.runId)].filter((entry) => entry.action === 'model.called').length;
      if (says['after'] !== undefined) while (calls() < Number(says['after'])) await sleep(5);
      if (says['sleep'] !== undefined) await sleep(Number(says['sleep']), undefined, { signal }).catch(() => undefined);
      const cancelled = signal.aborted;
      const exitCode = cancelled ? null : Number(says['exit'] ?? 0);
      const put = async (bytes: Uint8Array) => {
        const digest = sha256Digest(bytes);
        await storage.put(blobKey(digest), bytes);
        return digest;
      };
      const empty = await put(new Uint8Array());
      const patchBytes = Number(says['patch'] ?? 0);
      const patch = !cancelled && patchBytes > 0 ? await put(new TextEncoder().encode(`${manifest.executionId}\n`.padEnd(patchBytes, '+'))) : undefined;
      const checked = manifest.candidate !== undefined && patch !== undefined && exitCode === 0;
      const now = new Date().toISOString();
      const record = {
        version: 'cairn.result/v1',
        runId: manifest.runId,
        itemId: manifest.itemId,
        attempt: manifest.attempt,
        fencingToken: manifest.fencingToken,
        executionId: task.executionId,
        manifestDigest: task.manifestDigest,
        outcome: cancelled ? 'cancelled' : exitCode === 0 ? 'succeeded' : 'failed',
        exitCode,
        startedAt: now,
        finishedAt: now,
        artifacts: {
          stdout: says['say'] === undefined ? empty : await put(new TextEncoder().encode(`${decodeURIComponent(says['say'])}\n`)),
          stderr: empty,
          ...(patch ? { patch } : {}),
        },
        ...(patch ? { patchStats: { filesChanged: 1, bytes: patchBytes } } : {}),
        ...(cancelled
          ? { failure: { code: 'CAIRN_ATTEMPT_CANCELLED', message: 'cancelled', exitCode: null, signal: null, stderrTail: '' } }
          : exitCode !== 0
            ? { failure: { code: 'CAIRN_EXIT_NONZERO', message: `exit ${exitCode}`, exitCode, signal: null, stderrTail: '' } }
            : {}),
        ...(checked
          ? {
              check: {
                passed: says['check'] === 'pass',
                exitCode: says['check'] === 'pass' ? 0 : 1,
                score: says['score'] === undefined ? null : Number(says['score']),
                tail: says['check'] === 'pass' ? 'ok\n' : '2 tests failed\n',
              },
            }
          : {}),
      };
      await storage.put(resultKey(task.executionId), canonicalJsonBytes(record));
      return cancelled ? 130 : exitCode!;
    };
}

function bestOf(vary: string[][], select: ItemSpec['select'], extra: Partial<ItemSpec> = {}) {
  return {
    version: 1,
    name: 'best-of',
    items: [
      {
        id: 'fix',
        runtime: { kind: 'command' as const, argv: ['candidate'] },
        candidates: { count: vary.length, vary: vary.map((argv) => ({ argv: ['candidate', ...argv] })) },
        select,
        ...extra,
      },
      { id: 'after', needs: { fix: { from: 'fix', select: 'patch' as const } }, runtime: { kind: 'command' as const, argv: ['true'] } },
    ],
  };
}

describe.each(backends)('best of N on %s', (backend) => {
  const { engineWith } = engineHarness(backend);

  test('four candidates run side by side as one item: of the two that pass, the smaller diff wins and its patch is the item’s', async () => {
    const manifests = new Map<string, DispatchManifest>();
    const { engine, signer } = await engineWith({ task: candidateWorker(manifests) });
    engine.start();
    const { runId } = engine.submit(
      bestOf(
        [
          ['exit=1', 'patch=50', 'sleep=30'],
          ['patch=300', 'check=pass', 'sleep=10'],
          ['patch=80', 'check=fail'],
          ['patch=120', 'check=pass', 'sleep=20'],
        ],
        { check: { argv: ['npm', 'test'], timeout: '2m' }, order: 'smallest-diff' },
      ),
      { actor: ana },
    );
    expect((await engine.waitForRun(runId)).state).toBe('succeeded');
    const attempts = engine.attempts(runId, 'fix');
    expect(attempts.map((attempt) => [attempt.attempt, attempt.state])).toEqual([
      [1, 'failed'],
      [2, 'succeeded'],
      [3, 'succeeded'],
      [4, 'succeeded'],
    ]);
    // Each candidate ran its own variation and was told its place and the check.
    expect(manifests.get(`${runId}/fix/3`)).toMatchObject({
      runtime: { argv: ['candidate', 'patch=80', 'check=fail'] },
      candidate: { index: 3, of: 4, round: 1, check: { argv: ['npm', 'test'], timeoutMs: 120_000 } },
    });
    expect(engine.artifacts(runId, 'fix')?.['patch']).toBe(attempts[3]!.artifacts!['patch']);
    // What depends on the item took the winner's patch.
    expect(manifests.get(`${runId}/after/1`)?.inputs['fix']?.digest).toBe(attempts[3]!.artifacts!['patch']);
    const entries = engine.audit.runEntries(runId);
    const checked = entries.filter((entry) => entry.action === 'candidate.checked');
    expect(
      checked.map((entry) => [entry.data['candidate'], entry.data['outcome'], (entry.data['check'] as { passed?: boolean } | null)?.passed ?? null]),
    ).toEqual(
      expect.arrayContaining([
        [1, 'failed', null],
        [2, 'succeeded', true],
        [3, 'succeeded', false],
        [4, 'succeeded', true],
      ]),
    );
    const selected = entries.find((entry) => entry.action === 'candidate.selected')!;
    expect(selected.data).toMatchObject({ attempt: 4, candidate: 4, order: 'smallest-diff', passed: [4, 2], round: 1, stopOnFirstPass: false });
    expect(selected.data['reason']).toContain('smallest diff (120 bytes) of 2 passing candidates');
    // Every candidate's end is in the log before the item's success.
    const succeeded = entries.findIndex((entry) => entry.action === 'item.succeeded' && entry.entity.id === `${runId}/fix`);
    expect(entries.findIndex((entry) => entry === selected)).toBeLessThan(succeeded);
    expect(Math.max(...checked.map((entry) => entries.indexOf(entry)))).toBeLessThan(succeeded);
    // The evidence says why, and verifies; a choice edited to the other passing candidate does not.
    const bundle = await engine.exportBundle(runId);
    const pinnedKeyIds = [keyIdOf(await signer.publicKey())];
    const report = await verifyBundle(bundle, { pinnedKeyIds });
    expect(report.checks.find((check) => check.name === 'candidates')).toEqual({
      name: 'candidates',
      status: 'pass',
      detail: "1 round of candidates decided as their items' order says",
    });
    expect(report.verdict).toBe('verified');
    const edited = structuredClone(bundle) as typeof bundle;
    const choice = edited.entries.find((entry) => entry.action === 'candidate.selected')!;
    (choice.data as Record<string, unknown>)['attempt'] = 2;
    (choice.data as Record<string, unknown>)['patch'] = attempts[1]!.artifacts!['patch'];
    const refused = await verifyBundle(edited, { pinnedKeyIds });
    expect(refused.verdict).toBe('failed');
    expect(refused.checks.find((check) => check.name === 'candidates')?.detail).toMatch(/chooses attempt 2, but order smallest-diff puts attempt 4 first$/);
  });

  test('order score takes the highest score among those that passed, never a failing one', async () => {
    const manifests = new Map<string, DispatchManifest>();
    const { engine } = await engineWith({ task: candidateWorker(manifests) });
    engine.start();
    const { runId } = engine.submit(
      bestOf(
        [
          ['patch=10', 'check=fail', 'score=99'],
          ['patch=500', 'check=pass', 'score=0.9'],
          ['patch=20', 'check=pass', 'score=0.4'],
        ],
        { check: { argv: ['make', 'check'] }, order: 'score' },
      ),
      { actor: ana },
    );
    expect((await engine.waitForRun(runId)).state).toBe('succeeded');
    expect(engine.audit.runEntries(runId).find((entry) => entry.action === 'candidate.selected')?.data).toMatchObject({ candidate: 2, passed: [2, 3] });
  });

  test('no candidate passes: the round fails listing each, and the retry starts a fresh round given that summary as an input', async () => {
    const manifests = new Map<string, DispatchManifest>();
    const { engine, storage } = await engineWith({ task: candidateWorker(manifests) });
    engine.start();
    const { runId } = engine.submit(
      bestOf(
        [['exit=2'], ['patch=40', 'check=fail'], ['exit=0']],
        { check: { argv: ['npm', 'test'] }, order: 'first' },
        {
          retry: { maxAttempts: 2, backoff: { initial: '1ms' } },
        },
      ),
      { actor: ana },
    );
    expect((await engine.waitForRun(runId)).state).toBe('failed');
    const fix = engine.items(runId).find((item) => item.itemId === 'fix')!;
    expect(fix.state).toBe('failed');
    expect(fix.failure?.code).toBe('CAIRN_CANDIDATES_NONE_PASSED');
    expect(fix.failure?.message).toBe(
      "No candidate of round 2 passed its check: candidate 1 (attempt 4): failed, not checked; candidate 2 (attempt 5): check failed (exit 1); candidate 3 (attempt 6): changed nothing, not checked. Each check's output is in its attempt's log. No rounds are left (retry.maxAttempts counts rounds).",
    );
    expect(engine.attempts(runId, 'fix')).toHaveLength(6);
    const none = engine.audit.runEntries(runId).filter((entry) => entry.action === 'candidate.none-passed');
    expect(none.map((entry) => [entry.data['round'], entry.data['roundsLeft']])).toEqual([
      [1, 1],
      [2, 0],
    ]);
    // Round 1's candidates had no summary; round 2's got round 1's, with each check's output, never a transcript.
    expect(manifests.get(`${runId}/fix/1`)?.inputs['previous-candidates']).toBeUndefined();
    const input = manifests.get(`${runId}/fix/4`)?.inputs['previous-candidates'];
    expect(input).toMatchObject({ from: 'fix', select: 'output' });
    expect(manifests.get(`${runId}/fix/6`)?.inputs['previous-candidates']?.digest).toBe(input!.digest);
    const summary = JSON.parse(new TextDecoder().decode((await storage.get(blobKey(input!.digest)))!));
    expect(summary).toEqual({
      version: 'cairn.candidates-summary/v1',
      itemId: 'fix',
      round: 1,
      candidates: [
        { candidate: 1, attempt: 1, outcome: 'failed', failure: { code: 'CAIRN_EXIT_NONZERO', message: 'exit 2' } },
        { candidate: 2, attempt: 2, outcome: 'succeeded', patchBytes: 40, check: { passed: false, exitCode: 1, score: null, tail: '2 tests failed\n' } },
        { candidate: 3, attempt: 3, outcome: 'succeeded' },
      ],
    });
    expect(engine.items(runId).find((item) => item.itemId === 'after')?.state).toBe('skipped');
  });

  test('cancelling the item stops its whole round: every candidate ends cancelled and the item with them, nothing selected', async () => {
    const manifests = new Map<string, DispatchManifest>();
    const { engine } = await engineWith({ task: candidateWorker(manifests) });
    engine.start();
    const { runId } = engine.submit(
      bestOf(
        [
          ['patch=10', 'check=pass', 'sleep=20000'],
          ['patch=10', 'check=pass', 'sleep=20000'],
        ],
        { check: { argv: ['npm', 'test'] }, order: 'first' },
      ),
      { actor: ana },
    );
    for (let wait = 0; wait < 400 && manifests.size < 2; wait++) await sleep(5);
    engine.cancelItem(runId, 'fix', ana, 'not needed');
    expect((await engine.waitForRun(runId)).state).toBe('failed');
    expect(engine.items(runId).map((item) => [item.itemId, item.state])).toEqual([
      ['fix', 'cancelled'],
      ['after', 'skipped'],
    ]);
    expect(engine.attempts(runId, 'fix').map((attempt) => attempt.state)).toEqual(['cancelled', 'cancelled']);
    const actions = engine.audit.runEntries(runId).map((entry) => entry.action);
    expect(actions.filter((action) => action === 'candidate.checked')).toHaveLength(2);
    expect(actions).not.toContain('candidate.selected');
  });

  test('stopOnFirstPass: the first to pass wins at once, the others end cancelled, and the item succeeds after their ends', async () => {
    const manifests = new Map<string, DispatchManifest>();
    const { engine } = await engineWith({ task: candidateWorker(manifests) });
    engine.start();
    const { runId } = engine.submit(
      bestOf(
        [
          ['patch=900', 'check=pass', 'sleep=20'],
          ['patch=10', 'check=pass', 'sleep=20000'],
          ['patch=10', 'check=pass', 'sleep=20000'],
        ],
        { check: { argv: ['npm', 'test'] }, order: 'smallest-diff', stopOnFirstPass: true },
      ),
      { actor: ana },
    );
    const started = performance.now();
    expect((await engine.waitForRun(runId)).state).toBe('succeeded');
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(engine.attempts(runId, 'fix').map((attempt) => attempt.state)).toEqual(['succeeded', 'cancelled', 'cancelled']);
    const entries = engine.audit.runEntries(runId);
    expect(entries.find((entry) => entry.action === 'candidate.selected')?.data).toMatchObject({ candidate: 1, stopOnFirstPass: true, passed: [1] });
    expect(entries.filter((entry) => entry.action === 'candidate.checked').map((entry) => entry.data['outcome'])).toEqual([
      'succeeded',
      'cancelled',
      'cancelled',
    ]);
  });

  test('stopOnFirstPass: what the stopped candidates spent on models stays theirs, and in the run’s spend', async () => {
    const manifests = new Map<string, DispatchManifest>();
    const gateway: { engine?: Engine } = {};
    const { engine } = await engineWith({ task: candidateWorker(manifests, gateway) });
    gateway.engine = engine;
    engine.start();
    const { runId } = engine.submit(
      bestOf(
        [
          // The first passes once all three have made their model call; the others are stopped mid-way.
          ['spend=200', 'after=3', 'patch=40', 'check=pass'],
          ['spend=300', 'patch=10', 'check=pass', 'sleep=20000'],
          ['spend=400', 'patch=10', 'check=pass', 'sleep=20000'],
        ],
        { check: { argv: ['npm', 'test'] }, order: 'smallest-diff', stopOnFirstPass: true },
      ),
      { actor: ana },
    );
    expect((await engine.waitForRun(runId)).state).toBe('succeeded');
    expect(engine.attempts(runId, 'fix').map((attempt) => attempt.state)).toEqual(['succeeded', 'cancelled', 'cancelled']);
    const entries = engine.audit.runEntries(runId);
    const calls = entries.filter((entry) => entry.action === 'model.called');
    expect(calls.map((call) => [call.entity.id, call.data['inputTokens']]).sort()).toEqual([
      [`${runId}/fix/1`, 200],
      [`${runId}/fix/2`, 300],
      [`${runId}/fix/3`, 400],
    ]);
    expect(modelCallSpend(entries)).toMatchObject({ calls: 3, inputTokens: 900 });
    // Each stopped candidate's end is in the evidence, after its model call, before the item's.
    const succeeded = entries.findIndex((entry) => entry.action === 'item.succeeded' && entry.entity.id === `${runId}/fix`);
    for (const attempt of [2, 3]) {
      const checked = entries.findIndex((entry) => entry.action === 'candidate.checked' && entry.data['attempt'] === attempt);
      expect(entries[checked]?.data['outcome']).toBe('cancelled');
      expect(entries.findIndex((entry) => entry.action === 'model.called' && entry.entity.id === `${runId}/fix/${attempt}`)).toBeLessThan(checked);
      expect(checked).toBeLessThan(succeeded);
    }
  });
  describe('with a judge (ADR 0053)', () => {
    const judgeSelect = (prompt: string): ItemSpec['select'] => ({
      check: { argv: ['make', 'check'] },
      order: 'smallest-diff',
      judge: { runtime: { kind: 'agent', adapter: 'openai-compatible', prompt }, env: { JUDGE: 'yes' } },
    });
    const round = [
      ['patch=300', 'check=pass'],
      ['patch=80', 'check=fail'],
      ['patch=120', 'check=pass'],
    ];

    test('the judge is the attempt after its round: no secrets, an empty workspace, the passing candidates only, and its choice wins', async () => {
      const manifests = new Map<string, DispatchManifest>();
      const { engine, signer } = await engineWith({ task: candidateWorker(manifests) });
      engine.start();
      const answer = encodeURIComponent('{"candidate": 1, "reason": "it handles the edge case"}');
      const { runId } = engine.submit(bestOf(round, judgeSelect(`exit=0 say=${answer}`)), { actor: ana });
      expect((await engine.waitForRun(runId)).state).toBe('succeeded');
      const attempts = engine.attempts(runId, 'fix');
      expect(attempts.map((attempt) => [attempt.attempt, attempt.state])).toEqual([
        [1, 'succeeded'],
        [2, 'succeeded'],
        [3, 'succeeded'],
        [4, 'succeeded'],
      ]);
      const judge = manifests.get(`${runId}/fix/4`)!;
      expect(judge).toMatchObject({ attempt: 4, env: { JUDGE: 'yes' }, secretNames: [], workspace: sha256Digest(''), runtime: { kind: 'agent' } });
      expect(judge.candidate).toBeUndefined();
      expect(judge.limits.network).toBe(false);
      expect(Object.keys(judge.inputs).sort()).toEqual(['candidate-1.patch', 'candidate-3.patch', 'candidates.json']);
      expect(judge.inputs['candidate-1.patch']?.digest).toBe(attempts[0]!.artifacts!['patch']);
      const entries = [...engine.audit.runEntries(runId)];
      // The round's last end made the item ready again, for its judge.
      const ready = entries.filter((entry) => entry.action === 'item.ready' && entry.entity.id === `${runId}/fix`).at(-1);
      expect(ready?.data).toMatchObject({ judge: { round: 1, attempt: 4 } });
      expect(entries.find((entry) => entry.action === 'candidate.judged')?.data).toMatchObject({
        attempt: 4,
        candidate: 1,
        chosen: 1,
        reason: 'it handles the edge case',
      });
      expect(entries.find((entry) => entry.action === 'candidate.selected')?.data).toMatchObject({ attempt: 1, decidedBy: 'judge', passed: [1, 3] });
      expect(engine.items(runId).find((item) => item.itemId === 'after')?.state).toBe('succeeded');
      const report = await verifyBundle(await engine.exportBundle(runId), { pinnedKeyIds: [keyIdOf(await signer.publicKey())] });
      expect(report.verdict).toBe('verified');
    });

    test('cancelling the item while its judge runs stops the judge: the item ends cancelled, nothing selected', async () => {
      const manifests = new Map<string, DispatchManifest>();
      const { engine } = await engineWith({ task: candidateWorker(manifests) });
      engine.start();
      const { runId } = engine.submit(bestOf(round, judgeSelect('sleep=20000')), { actor: ana });
      for (let wait = 0; wait < 400 && !manifests.has(`${runId}/fix/4`); wait++) await sleep(5);
      engine.cancelItem(runId, 'fix', ana, 'not needed');
      expect((await engine.waitForRun(runId)).state).toBe('failed');
      expect(engine.items(runId).find((item) => item.itemId === 'fix')?.state).toBe('cancelled');
      expect(engine.attempts(runId, 'fix').map((attempt) => attempt.state)).toEqual(['succeeded', 'succeeded', 'succeeded', 'cancelled']);
      const entries = [...engine.audit.runEntries(runId)];
      expect(entries.find((entry) => entry.action === 'candidate.judge-refused')?.data['reason']).toContain("the judge's attempt ended cancelled");
      expect(entries.map((entry) => entry.action)).not.toContain('candidate.selected');
    });

    test('a judge that fails is refused: the order decides and the item succeeds', async () => {
      const manifests = new Map<string, DispatchManifest>();
      const { engine } = await engineWith({ task: candidateWorker(manifests) });
      engine.start();
      const { runId } = engine.submit(bestOf(round, judgeSelect('exit=1')), { actor: ana });
      expect((await engine.waitForRun(runId)).state).toBe('succeeded');
      const entries = [...engine.audit.runEntries(runId)];
      expect(entries.find((entry) => entry.action === 'candidate.judge-refused')?.data).toMatchObject({
        attempt: 4,
        reason: expect.stringContaining("the judge's attempt ended failed"),
      });
      expect(entries.find((entry) => entry.action === 'candidate.selected')?.data).toMatchObject({ attempt: 3, decidedBy: 'order' });
      expect(engine.items(runId).find((item) => item.itemId === 'fix')?.state).toBe('succeeded');
    });
  });
});
