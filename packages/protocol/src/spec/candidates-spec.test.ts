import type { ItemSpec, RunSpecV1 } from '@cairn/core';
import { describe, expect, test } from 'vitest';
import { assertRunSpec, isCairnError, loadRunSpec, runSpecJsonSchema, validateRunSpec } from '../index.ts';

const select = { check: { argv: ['npm', 'test'] }, order: 'smallest-diff' as const };
const agent = { kind: 'agent' as const, adapter: 'claude-code', prompt: 'Fix the failing test' };

function spec(item: Partial<ItemSpec>, run: Partial<RunSpecV1> = {}): RunSpecV1 {
  return { version: 1, name: 'best-of', ...run, items: [{ id: 'fix', runtime: agent, ...item } as ItemSpec] };
}

function issues(document: RunSpecV1): [string, string][] {
  const result = validateRunSpec(document);
  return result.ok ? [] : result.issues.map((issue) => [issue.path, issue.message]);
}

describe('candidates and select', () => {
  test('are read from YAML with their variations and order', () => {
    const { spec: loaded } = loadRunSpec(`version: 1
name: best-of
items:
  - id: fix
    runtime: { kind: agent, adapter: claude-code, prompt: Fix the failing test }
    candidates:
      count: 4
      vary: [ { model: claude-opus }, { prompt: Fix it with the smallest change } ]
    select: { check: { argv: [npm, test], timeout: 5m }, order: score, stopOnFirstPass: true }
`);
    expect(loaded.items[0]).toMatchObject({
      candidates: { count: 4, vary: [{ model: 'claude-opus' }, { prompt: 'Fix it with the smallest change' }] },
      select: { check: { argv: ['npm', 'test'], timeout: '5m' }, order: 'score', stopOnFirstPass: true },
    });
  });

  test('come together, each missing one named at its path', () => {
    expect(issues(spec({ candidates: { count: 3 } }))).toEqual([
      ['$.items[0].select', expect.stringContaining('must say how the winner among the candidates is chosen')],
    ]);
    expect(issues(spec({ select }))).toEqual([['$.items[0].select', expect.stringContaining('the item has none: add candidates')]]);
  });

  test('refuse a count out of 2..16, more variations than candidates and an empty variation', () => {
    expect(issues(spec({ candidates: { count: 1 }, select }))).toEqual([['$.items[0].candidates.count', expect.stringContaining('at least 2')]]);
    expect(issues(spec({ candidates: { count: 17 }, select }))).toEqual([['$.items[0].candidates.count', expect.stringContaining('at most 16')]]);
    expect(issues(spec({ candidates: { count: 2, vary: [{ model: 'a' }, { model: 'b' }, { model: 'c' }] }, select }))).toEqual([
      ['$.items[0].candidates.vary', expect.stringContaining('at most `count` variations')],
    ]);
    expect(issues(spec({ candidates: { count: 2, vary: [{}] }, select }))).toEqual([
      ['$.items[0].candidates.vary[0]', expect.stringContaining('must change something')],
    ]);
  });

  test('refuse an unknown order and a check without a program', () => {
    expect(issues(spec({ candidates: { count: 2 }, select: { ...select, order: 'best' as never } }))).toEqual([
      ['$.items[0].select.order', expect.stringContaining('must be score')],
    ]);
    expect(issues(spec({ candidates: { count: 2 }, select: { ...select, check: { argv: [] } } }))).toEqual([
      ['$.items[0].select.check.argv', expect.stringContaining('must name the program')],
    ]);
  });

  test('refuse what N attempts of one item cannot be, each at its own path', () => {
    const found = issues(spec({ candidates: { count: 2 }, select, locks: ['file:a'], effect: 'pure', emits: { maxItems: 3 } }));
    expect(found.map(([path]) => path).sort()).toEqual(['$.items[0].effect', '$.items[0].emits', '$.items[0].locks']);
    expect(
      issues({
        version: 1,
        name: 'm',
        items: [
          { id: 'a', runtime: { kind: 'command', argv: ['true'] } },
          { id: 'm', runtime: { kind: 'merge', from: ['a'] }, candidates: { count: 2 }, select },
        ],
      }),
    ).toEqual([['$.items[1].runtime', expect.stringContaining('not a merge')]]);
    expect(issues(spec({ candidates: { count: 4 }, select }, { concurrency: 3 }))).toEqual([
      ['$.items[0].candidates.count', expect.stringContaining("more than the run's concurrency 3")],
    ]);
  });

  test('refuse a variation of something the runtime does not have', () => {
    expect(issues(spec({ candidates: { count: 2, vary: [{ argv: ['x'] }] }, select }))).toEqual([
      ['$.items[0].candidates.vary[0].argv', expect.stringContaining('the item runs a agent')],
    ]);
    const command = { kind: 'command' as const, argv: ['make'] };
    expect(issues(spec({ runtime: command, candidates: { count: 2, vary: [{ prompt: 'p', model: 'm' }] }, select })).map(([path]) => path)).toEqual([
      '$.items[0].candidates.vary[0].prompt',
      '$.items[0].candidates.vary[0].model',
    ]);
  });

  test('a judge is an agent with its own env and timeout, no secrets, and not with stopOnFirstPass', () => {
    const judge = { runtime: { ...agent, prompt: 'Choose the clearest fix' }, env: { STYLE: 'strict' }, timeout: '5m' };
    expect(issues(spec({ candidates: { count: 3 }, select: { ...select, judge } }))).toEqual([]);
    expect(issues(spec({ candidates: { count: 3 }, select: { ...select, stopOnFirstPass: true, judge } }))).toEqual([
      ['$.items[0].select.judge', expect.stringContaining('cannot be given with stopOnFirstPass')],
    ]);
    const withSecrets = { ...judge, secrets: ['GITHUB_TOKEN'] } as unknown as NonNullable<NonNullable<ItemSpec['select']>['judge']>;
    expect(issues(spec({ candidates: { count: 3 }, select: { ...select, judge: withSecrets } })).map(([path]) => path)).toEqual([
      '$.items[0].select.judge.secrets',
    ]);
    const command = { runtime: { kind: 'command', argv: ['rank'] } } as unknown as NonNullable<NonNullable<ItemSpec['select']>['judge']>;
    // A command that ranks is a check with a score (order: score): the judge is an agent only.
    expect(issues(spec({ candidates: { count: 3 }, select: { ...select, judge: command } })).map(([path]) => path)).toContain(
      '$.items[0].select.judge.runtime.kind',
    );
    expect(issues(spec({ candidates: { count: 3 }, select: { ...select, judge: { ...judge, timeout: 'soon' } } }))).toEqual([
      ['$.items[0].select.judge.timeout', expect.stringContaining('must be a duration')],
    ]);
  });

  test('an invalid spec throws CAIRN_RUN_SPEC_INVALID naming the first path', () => {
    try {
      assertRunSpec(spec({ candidates: { count: 3 } }));
      expect.unreachable();
    } catch (error) {
      expect(isCairnError(error, 'CAIRN_RUN_SPEC_INVALID')).toBe(true);
      expect((error as Error).message).toContain('$.items[0].select');
    }
  });

  test('are in the published JSON Schema', () => {
    const item = JSON.stringify(runSpecJsonSchema());
    expect(item).toContain('"stopOnFirstPass"');
    expect(item).toContain('"smallest-diff"');
    expect(item).toContain('"judge"');
  });
});
