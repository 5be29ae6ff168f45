// Runs that grow (ADR 0034): a planner item (`emits`) writes a run-spec fragment as its output;
// when it succeeds the fragment joins its run, namespaced under it, checked as a submitted spec
// is, in the transaction that records the success — and what depended on the planner waits for
// the whole fragment. An invalid fragment fails the planner with the reason and adds nothing.
import type { AuditActor, EvidenceBundleV1, ItemSpec } from '@cairn/core';
import { keyIdOf, storedManifestPayload, verifyBundle } from '@cairn/audit';
import { createInMemoryAuditAnchor } from '@cairn/conformance/mocks';
import { describe, expect, test } from 'vitest';
import { ana, backends, engineHarness } from './engine.test-support.ts';

const command = (...argv: string[]) => ({ kind: 'command' as const, argv });
/** A planner whose task writes `fragment` (JSON) as its output. */
const planner = (id: string, fragment: unknown, more: Partial<ItemSpec> = {}) => ({
  id,
  runtime: command('emit', JSON.stringify(fragment)),
  emits: { maxItems: 10 },
  ...more,
});
const states = (items: { itemId: string; state: string }[]) => Object.fromEntries(items.map((item) => [item.itemId, item.state]));

describe.each(backends)('on %s', (backend) => {
  const { engineWith } = engineHarness(backend);

  test("a planner's items join the run under its id, and what depended on the planner waits for all of them", async () => {
    const { engine } = await engineWith();
    engine.start();
    const fragment = {
      items: [
        { id: 'fix-auth', runtime: command('sleep', '50') },
        { id: 'fix-db', dependsOn: ['fix-auth'], runtime: command('true') },
        { id: 'docs', dependsOn: ['setup'], runtime: command('true') },
      ],
    };
    const { runId } = engine.submit(
      {
        version: 1,
        name: 'grow',
        items: [
          { id: 'setup', runtime: command('true') },
          { ...planner('plan', fragment), dependsOn: ['setup'] },
          { id: 'merge', dependsOn: ['plan'], runtime: command('true') },
        ],
      },
      { actor: ana },
    );
    const run = await engine.waitForRun(runId);
    expect(run).toMatchObject({ state: 'succeeded', itemsTotal: 6, itemsFinished: 6 });
    expect(states(engine.items(runId))).toEqual({
      setup: 'succeeded',
      plan: 'succeeded',
      merge: 'succeeded',
      'plan/fix-auth': 'succeeded',
      'plan/fix-db': 'succeeded',
      'plan/docs': 'succeeded',
    });
    const entries = engine.audit.runEntries(runId);
    const extended = entries.filter((entry) => entry.action === 'run.extended');
    expect(extended.map((entry) => entry.data)).toEqual([{ attempt: 1, emitter: 'plan', fragment: expect.stringMatching(/^sha256:/), items: 3 }]);
    // The fragment is the planner's output, as stored: its digest is the one its attempt reported.
    const completed = entries.find((entry) => entry.action === 'attempt.completed' && entry.data['itemId'] === 'plan')!;
    expect((completed.data['artifacts'] as Record<string, string>)['output']).toBe(extended[0]!.data['fragment']);
    // The join: `merge` was dispatched only after every emitted item had succeeded.
    const position = (action: string, itemId: string) =>
      entries.findIndex((entry) => entry.action === action && (entry.data['itemId'] === itemId || entry.entity.id === `${runId}/${itemId}`));
    const mergeDispatched = position('attempt.dispatched', 'merge');
    for (const itemId of ['plan/fix-auth', 'plan/fix-db', 'plan/docs']) expect(position('item.succeeded', itemId)).toBeLessThan(mergeDispatched);
    expect(engine.items(runId).find((item) => item.itemId === 'plan/fix-db')).toMatchObject({ position: 4 });
  });

  test('a planner emitting 50 items: the merge downstream of it is dispatched only after all 50 ended', async () => {
    const { engine } = await engineWith();
    engine.start();
    const fragment = { items: Array.from({ length: 50 }, (_, index) => ({ id: `fix-${index}`, runtime: command('sleep', String(index % 5)) })) };
    const { runId } = engine.submit(
      {
        version: 1,
        name: 'fifty',
        items: [planner('plan', fragment, { emits: { maxItems: 50 } }), { id: 'combine', runtime: { kind: 'merge', from: ['plan'] } }],
      },
      { actor: ana },
    );
    expect(await engine.waitForRun(runId)).toMatchObject({ state: 'succeeded', itemsTotal: 52, itemsFinished: 52 });
    const entries = engine.audit.runEntries(runId);
    const at = (action: string, itemId: string) =>
      entries.findIndex((entry) => entry.action === action && (entry.data['itemId'] === itemId || entry.entity.id === `${runId}/${itemId}`));
    const lastEnded = Math.max(...fragment.items.map((item) => at('item.succeeded', `plan/${item.id}`)));
    expect(lastEnded).toBeGreaterThan(0);
    expect(at('attempt.dispatched', 'combine')).toBeGreaterThan(lastEnded);
  });

  test("a grown run's bundle carries its fragments and verifies; one that drops or adds an item fails completeness, naming it", async () => {
    const anchor = createInMemoryAuditAnchor();
    const { engine, signer } = await engineWith({ anchors: [anchor] });
    engine.start();
    const fragment = {
      items: [
        { id: 'a', runtime: command('true') },
        { id: 'b', runtime: command('true') },
        { id: 'merge', runtime: { kind: 'merge', from: ['a', 'b'] } },
      ],
    };
    const { runId } = engine.submit({ version: 1, name: 'grown', items: [planner('plan', fragment)] }, { actor: ana });
    expect((await engine.waitForRun(runId)).state).toBe('succeeded');
    // The emitted merge names its fragment's items, namespaced as they are (it waited for both).
    expect(engine.items(runId).map((item) => item.itemId)).toEqual(['plan', 'plan/a', 'plan/b', 'plan/merge']);
    const bundle = await engine.exportBundle(runId);
    expect(bundle.fragments).toEqual([{ digest: expect.stringMatching(/^sha256:/), fragment }]);
    const keyId = keyIdOf(await signer.publicKey());
    const verify = (edited: EvidenceBundleV1) => verifyBundle(edited, { pinnedKeyIds: [keyId], readAnchor: (receipt) => anchor.read(receipt) });
    const report = await verify(bundle);
    expect(report.valid, JSON.stringify(report.checks)).toBe(true);
    expect(report.checks.find((check) => check.name === 'completeness')?.detail).toContain(
      "the spec's 1 items and those of 1 planner fragments, each ended, and no other",
    );

    const completeness = async (edited: EvidenceBundleV1) => (await verify(edited)).checks.find((check) => check.name === 'completeness')!;
    // Without the fragment, its items are no one's.
    expect(await completeness({ ...bundle, fragments: [] })).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('which $.fragments does not carry'),
    });
    // A fragment that lost an item no longer hashes to the digest its entry names.
    const fewer = { ...bundle, fragments: [{ ...bundle.fragments![0]!, fragment: { items: fragment.items.slice(1) } }] };
    expect(await completeness(fewer)).toMatchObject({ status: 'fail', detail: expect.stringMatching(/hashes to sha256:/) });
    // An entry about an item no fragment holds is named.
    const entries = bundle.entries.map((entry) =>
      entry.entity.id === `${runId}/plan/b` ? { ...entry, entity: { ...entry.entity, id: `${runId}/plan/extra` } } : entry,
    );
    expect(await completeness({ ...bundle, entries })).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('is about item plan/extra, which neither the spec nor a fragment holds'),
    });
  });

  test('a planner that emits nothing lets what depends on it go on at once', async () => {
    const { engine } = await engineWith();
    engine.start();
    const { runId } = engine.submit(
      { version: 1, name: 'none', items: [planner('plan', { items: [] }), { id: 'after', dependsOn: ['plan'], runtime: command('true') }] },
      { actor: ana },
    );
    const ended = await engine.waitForRun(runId);
    expect(ended, JSON.stringify(engine.attempts(runId, 'plan'))).toMatchObject({ state: 'succeeded', itemsTotal: 2 });
  });

  test('a fragment that is not valid fails its planner at its JSON path, and nothing is added', async () => {
    const { engine } = await engineWith();
    engine.start();
    const cases: [fragment: unknown, path: string, message: RegExp][] = [
      [
        {
          items: [
            { id: 'a', dependsOn: ['b'], runtime: command('true') },
            { id: 'b', dependsOn: ['a'], runtime: command('true') },
          ],
        },
        '$.items[1].dependsOn[0]',
        /closes a cycle: a → b → a/,
      ],
      [{ items: [{ id: 'a', dependsOn: ['nowhere'], runtime: command('true') }] }, '$.items[0].dependsOn[0]', /nowhere/],
      [
        {
          items: [
            { id: 'a', runtime: command('true') },
            { id: 'a', runtime: command('true') },
          ],
        },
        '$.items[1].id',
        /a/,
      ],
      [{ items: Array.from({ length: 11 }, (_, index) => ({ id: `i${index}`, runtime: command('true') })) }, '$.items', /emits\.maxItems \(10\)/],
      [JSON.parse('{"items":[{"id":"a","runtime":{"kind":"command","argv":["true"]},"__proto__":{"polluted":true}}]}'), '$.items[0]', /__proto__/],
      [{ items: [{ id: 'a', dependsOn: ['slow'], runtime: command('true') }] }, '$.items[0].dependsOn[0]', /which is (running|ready)/],
      [{ items: [{ id: 'a', runtime: command('true'), emits: { maxItems: 1 } }] }, '$.items[0].emits', /past the emitter's emits\.maxDepth \(1\)/],
      [{ tasks: [] }, '$.items', /holds no "items" array/],
    ];
    for (const [fragment, path, message] of cases) {
      const { runId } = engine.submit(
        { version: 1, name: 'bad', items: [{ id: 'slow', runtime: command('sleep', '2000') }, planner('plan', fragment)] },
        { actor: ana },
      );
      await expect.poll(() => states(engine.items(runId))['plan'], { timeout: 5_000 }).toBe('failed');
      const [attempt] = engine.attempts(runId, 'plan');
      expect(attempt?.failure, JSON.stringify(fragment)).toMatchObject({ code: 'CAIRN_RUN_SPEC_INVALID' });
      expect(attempt!.failure!.message).toMatch(message);
      expect(attempt!.failure!.message, attempt!.failure!.message).toContain(path);
      expect(engine.items(runId).map((item) => item.itemId)).toEqual(['slow', 'plan']);
      expect(engine.audit.runEntries(runId).some((entry) => entry.action === 'run.extended')).toBe(false);
      engine.cancelRun(runId, ana as AuditActor);
    }
  });

  test('emission nests to the depth its first planner allows, and one level more is refused', async () => {
    const { engine } = await engineWith();
    engine.start();
    const leaf = { items: [{ id: 'leaf', runtime: command('true') }] };
    const inner = { items: [{ id: 'inner', runtime: command('emit', JSON.stringify(leaf)), emits: { maxItems: 5, maxDepth: 5 } }] };
    const { runId } = engine.submit({ version: 1, name: 'nested', items: [planner('outer', inner, { emits: { maxItems: 5, maxDepth: 2 } })] }, { actor: ana });
    expect((await engine.waitForRun(runId)).state).toBe('succeeded');
    expect(states(engine.items(runId))).toEqual({ outer: 'succeeded', 'outer/inner': 'succeeded', 'outer/inner/leaf': 'succeeded' });
    // The inner planner's own maxDepth was capped to what its emitter left it (1): its items emit none.
    const deeper = {
      items: [
        {
          id: 'inner',
          runtime: command('emit', JSON.stringify({ items: [{ id: 'x', runtime: command('emit', '{"items":[]}'), emits: { maxItems: 1 } }] })),
          emits: { maxItems: 5, maxDepth: 5 },
        },
      ],
    };
    const over = engine.submit({ version: 1, name: 'too-deep', items: [planner('outer', deeper, { emits: { maxItems: 5, maxDepth: 2 } })] }, { actor: ana });
    expect((await engine.waitForRun(over.runId)).state).toBe('failed');
    const [attempt] = engine.attempts(over.runId, 'outer/inner');
    expect(attempt?.failure?.message).toMatch(/\$\.items\[0\]\.emits would emit at depth 3, past the emitter's emits\.maxDepth \(1\)/);
  });

  describe('forEach', () => {
    const mapped = (list: unknown, more: Record<string, unknown> = {}) => ({
      version: 1,
      name: 'map',
      items: [
        { id: 'list', runtime: command('emit', JSON.stringify(list)) },
        { id: 'fix', forEach: { from: 'list', select: 'output', path: '$.tests', maxItems: 500 }, runtime: command('true'), ...more },
        { id: 'after', dependsOn: ['fix'], runtime: command('true') },
      ],
    });

    test("one instance per element of an upstream output's array, each given its element; what depends on the item waits for all", async () => {
      const anchor = createInMemoryAuditAnchor();
      const { engine, storage, signer } = await engineWith({ anchors: [anchor] });
      engine.start();
      const tests = Array.from({ length: 200 }, (_, index) => ({ name: `test-${index}` }));
      const { runId } = engine.submit(mapped({ tests, other: true }), { actor: ana });
      expect((await engine.waitForRun(runId)).state).toBe('succeeded');
      const items = engine.items(runId);
      expect(items).toHaveLength(203);
      expect(items.filter((item) => item.itemId.startsWith('fix/')).map((item) => item.itemId)).toEqual(tests.map((_, index) => `fix/${index}`));
      expect(new Set(items.map((item) => item.state))).toEqual(new Set(['succeeded']));
      const entries = engine.audit.runEntries(runId);
      expect(entries.filter((entry) => entry.action === 'run.extended').map((entry) => entry.data)).toEqual([
        { attempt: 0, emitter: 'fix', fragment: expect.stringMatching(/^sha256:/), items: 200, path: '$.tests' },
      ]);
      // `fix` ran nothing itself; `after` started once every instance had ended.
      expect(engine.attempts(runId, 'fix')).toEqual([]);
      const at = (action: string, itemId: string) =>
        entries.findIndex((entry) => entry.action === action && (entry.data['itemId'] === itemId || entry.entity.id === `${runId}/${itemId}`));
      expect(Math.max(...tests.map((_, index) => at('item.succeeded', `fix/${index}`)))).toBeLessThan(at('attempt.dispatched', 'after'));
      // Each instance's signed manifest names its element: the producer's output at its index.
      const [attempt] = engine.attempts(runId, 'fix/7');
      const envelope = JSON.parse(new TextDecoder().decode((await storage.get(`manifests/${attempt!.manifestDigest.slice(7)}.json`))!));
      const manifest = JSON.parse(Buffer.from(storedManifestPayload(envelope), 'base64').toString('utf8'));
      expect(manifest.inputs).toEqual({ element: { from: 'list', select: 'output', digest: expect.stringMatching(/^sha256:/), path: '$.tests[7]' } });
      // The bundle carries the output mapped over, and completeness counts the instances at its path.
      const bundle = await engine.exportBundle(runId);
      const keyId = keyIdOf(await signer.publicKey());
      const report = await verifyBundle(bundle, { pinnedKeyIds: [keyId], readAnchor: (receipt) => anchor.read(receipt) });
      expect(report.valid, JSON.stringify(report.checks)).toBe(true);
      const fewer = { ...bundle, entries: bundle.entries.filter((entry) => entry.entity.id !== `${runId}/fix/199`) };
      expect((await verifyBundle(fewer, { pinnedKeyIds: [keyId] })).checks.find((check) => check.name === 'completeness')?.status).toBe('fail');
    });

    test("a planner's fragment may map over its own item's output: the instances are the emitted forEach's; one mapping over a run item is refused", async () => {
      const { engine } = await engineWith();
      engine.start();
      const fragment = {
        items: [
          { id: 'list', runtime: command('emit', JSON.stringify({ tests: ['a', 'b', 'c'] })) },
          { id: 'each', forEach: { from: 'list', select: 'output', path: '$.tests', maxItems: 10 }, runtime: command('true') },
        ],
      };
      const { runId } = engine.submit({ version: 1, name: 'nested-map', items: [planner('plan', fragment)] }, { actor: ana });
      expect((await engine.waitForRun(runId)).state).toBe('succeeded');
      expect(engine.items(runId).map((item) => item.itemId)).toEqual(['plan', 'plan/list', 'plan/each', 'plan/each/0', 'plan/each/1', 'plan/each/2']);
      expect(engine.attempts(runId, 'plan/each')).toEqual([]);

      const outside = { items: [{ id: 'each', forEach: { from: 'setup', select: 'output', path: '$.tests', maxItems: 10 }, runtime: command('true') }] };
      const refused = engine.submit(
        {
          version: 1,
          name: 'outside-map',
          items: [
            { id: 'setup', runtime: command('true') },
            { ...planner('plan', outside), dependsOn: ['setup'] },
          ],
        },
        { actor: ana },
      );
      expect((await engine.waitForRun(refused.runId)).state).toBe('failed');
      expect(engine.items(refused.runId).find((item) => item.itemId === 'plan')?.failure?.message).toContain(
        '$.items[0].forEach.from names "setup", which is no item of the fragment',
      );
    });

    test('over an empty list the item runs no instance and what depends on it runs; over no array it fails, naming what it found', async () => {
      const { engine } = await engineWith();
      engine.start();
      const empty = engine.submit(mapped({ tests: [] }), { actor: ana });
      expect((await engine.waitForRun(empty.runId)).state).toBe('succeeded');
      expect(states(engine.items(empty.runId))).toEqual({ list: 'succeeded', fix: 'succeeded', after: 'succeeded' });
      for (const [list, why] of [
        [{ tests: { a: 1 } }, 'it holds object there, not an array'],
        [{ other: [] }, 'it holds nothing at $.tests'],
        [{ tests: Array.from({ length: 501 }, () => 1) }, 'it holds 501 elements there, more than forEach.maxItems (500)'],
      ] as const) {
        const { runId } = engine.submit(mapped(list), { actor: ana });
        expect((await engine.waitForRun(runId)).state).toBe('failed');
        expect(states(engine.items(runId))).toEqual({ list: 'succeeded', fix: 'failed', after: 'skipped' });
        const fix = engine.items(runId).find((item) => item.itemId === 'fix')!;
        expect(fix.failure).toMatchObject({
          code: 'CAIRN_RUN_SPEC_INVALID',
          message: `Item fix maps over $.tests of item list's output, but ${why}. It ran no instance.`,
        });
      }
    });

    test('a forEach item takes no prerequisite but the item it maps over, and a path of the subset read', async () => {
      const { engine } = await engineWith();
      for (const [more, path] of [
        [{ dependsOn: ['list'] }, '$.items[1].dependsOn'],
        [{ approval: 'required' }, '$.items[1].approval'],
        [{ forEach: { from: 'list', select: 'output', path: 'tests', maxItems: 5 } }, '$.items[1].forEach.path'],
        [{ forEach: { from: 'nowhere', select: 'output', path: '$', maxItems: 5 } }, '$.items[1].forEach.from'],
      ] as const) {
        try {
          engine.submit(mapped({ tests: [] }, more), { actor: ana });
          expect.unreachable(path);
        } catch (error) {
          expect((error as { path?: string }).path, String(error)).toBe(path);
        }
      }
    });
  });
});
