import type { AuditEntry, EvidenceBundleV1, ItemSpec, JsonObject } from '@cairn/core';
import { describe, expect, test } from 'vitest';
import type { BundleContext } from './bundle-checks.ts';
import { checkCandidates } from './check-candidates.ts';

const runId = 'r-1';
const fix: ItemSpec = {
  id: 'fix',
  runtime: { kind: 'command', argv: ['fix'] },
  candidates: { count: 3 },
  select: { check: { argv: ['npm', 'test'] }, order: 'smallest-diff' },
};

let seq = 0;
const entry = (action: AuditEntry['action'], data: JsonObject, entity = `${runId}/fix`): AuditEntry => ({
  seq: ++seq,
  runSeq: seq,
  runId,
  time: '2026-11-28T10:00:00.000Z',
  actor: { kind: 'system', id: 'engine', via: 'engine' },
  action,
  entity: { kind: action === 'candidate.checked' ? 'attempt' : 'item', id: entity },
  outcome: 'success',
  data,
});
const checked = (attempt: number, passed: boolean | null, patchBytes: number, extra: JsonObject = {}) =>
  entry('candidate.checked', {
    attempt,
    candidate: attempt,
    check: passed === null ? null : { exitCode: passed ? 0 : 1, passed, score: null },
    itemId: 'fix',
    outcome: passed === null ? 'failed' : 'succeeded',
    patch: passed === null ? null : `sha256:${String(attempt).repeat(64).slice(0, 64)}`,
    patchBytes,
    round: 1,
    ...extra,
  });
const selected = (attempt: number, extra: JsonObject = {}) =>
  entry('candidate.selected', {
    attempt,
    candidate: attempt,
    itemId: 'fix',
    order: 'smallest-diff',
    patch: `sha256:${String(attempt).repeat(64).slice(0, 64)}`,
    round: 1,
    stopOnFirstPass: false,
    ...extra,
  });

function verdict(entries: AuditEntry[], spec: ItemSpec = fix) {
  const bundle = { runId, spec: { version: 1, name: 'best-of', items: [spec] }, entries } as unknown as EvidenceBundleV1;
  return checkCandidates({ bundle, checkpoint: undefined, trustedKeys: [], selfAsserted: false } as BundleContext);
}

const round = () => [checked(1, null, 0), checked(2, true, 300), checked(3, true, 120)];

describe('the candidates check', () => {
  test('passes a round whose winner passed and comes first in the declared order', () => {
    expect(verdict([...round(), selected(3), entry('item.succeeded', {})])).toEqual({
      status: 'pass',
      detail: "1 round of candidates decided as their items' order says",
    });
  });

  test('passes a run without candidates, saying so', () => {
    expect(verdict([entry('item.succeeded', {})], { id: 'fix', runtime: { kind: 'command', argv: ['x'] } }).detail).toBe('no item of the run has candidates');
  });

  test.each([
    ['a winner that did not pass', () => [...round(), selected(1)], 'which did not pass its check (failed, not checked)'],
    [
      'a winner the order does not put first',
      () => [...round(), selected(2, { patch: `sha256:${'2'.repeat(64)}` })],
      'but order smallest-diff puts attempt 3 first',
    ],
    ["an order other than the spec's", () => [...round(), selected(3, { order: 'score' })], 'but the spec says smallest-diff'],
    ["a patch other than the winner's", () => [...round(), selected(3, { patch: `sha256:${'9'.repeat(64)}` })], "but attempt 3's check names"],
    [
      'a candidate missing from the round',
      () => [checked(2, true, 300), checked(3, true, 120), selected(3)],
      'has 2 candidate.checked entries before it, not the 3',
    ],
    ['a success without a selection', () => [...round(), entry('item.succeeded', {})], 'succeeded with no candidate.selected before it'],
    ['a none-passed round where one passed', () => [...round(), entry('candidate.none-passed', { itemId: 'fix', round: 1 })], 'but attempt 3 did'],
    [
      'an edited score that would change a score order',
      () => [
        checked(1, true, 10, { check: { exitCode: 0, passed: true, score: 0.2 } }),
        checked(2, true, 20, { check: { exitCode: 0, passed: true, score: 0.9 } }),
        checked(3, null, 0),
        selected(1, { order: 'score' }),
      ],
      'puts attempt 2 first',
    ],
  ] as const)('fails %s, naming the entry', (_name, entries, message) => {
    const spec: ItemSpec = _name.startsWith('an edited score') ? { ...fix, select: { check: { argv: ['t'] }, order: 'score' } } : fix;
    const result = verdict([...entries()], spec);
    expect(result.status).toBe('fail');
    expect(result.detail).toContain(message);
    expect(result.detail).toMatch(/^\$\.entries\[\d+\] \(/);
  });
});
