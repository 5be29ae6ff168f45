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

  describe('with a judge (ADR 0053)', () => {
    const judged: ItemSpec = { ...fix, select: { ...fix.select!, judge: { runtime: { kind: 'agent', adapter: 'openai-compatible', prompt: 'Choose' } } } };
    const judgedEntry = (chosen: number, candidate = chosen) =>
      entry('candidate.judged', { attempt: 4, candidate, chosen, itemId: 'fix', reason: 'clearer', round: 1 }, `${runId}/fix/4`);
    const refusedEntry = () => entry('candidate.judge-refused', { attempt: 4, answer: 'x', itemId: 'fix', reason: 'not JSON', round: 1 }, `${runId}/fix/4`);

    test("passes the judge's choice of a passing candidate, though the order puts another first", () => {
      expect(verdict([...round(), judgedEntry(2), selected(2, { decidedBy: 'judge' }), entry('item.succeeded', {})], judged).status).toBe('pass');
    });

    test("passes the order's choice after a refused answer", () => {
      expect(verdict([...round(), refusedEntry(), selected(3, { decidedBy: 'order' }), entry('item.succeeded', {})], judged).status).toBe('pass');
    });

    test.each([
      ['a judge choice edited to a failing candidate', () => [...round(), judgedEntry(1), selected(1, { decidedBy: 'judge' })], 'which did not pass its check'],
      ['a winner other than the judge chose', () => [...round(), judgedEntry(2), selected(3, { decidedBy: 'judge' })], 'but the judge chose attempt 2'],
      ['an order decision where the judge chose', () => [...round(), judgedEntry(3), selected(3, { decidedBy: 'order' })], "the log's entries say judge"],
      ['a round that two passed with no judge entry', () => [...round(), selected(3, { decidedBy: 'order' })], 'but no judge entry'],
      ['a judge choice naming another candidate', () => [...round(), judgedEntry(2, 3), selected(2, { decidedBy: 'judge' })], 'which is not candidate 3'],
    ] as const)('fails %s', (_name, entries, message) => {
      const result = verdict([...entries()], judged);
      expect(result.status).toBe('fail');
      expect(result.detail).toContain(message);
    });

    test('fails a judge entry for an item whose spec declares no judge', () => {
      expect(verdict([...round(), judgedEntry(2), selected(2, { decidedBy: 'judge' })]).detail).toContain('declares no select.judge');
    });
  });
});
