import { expect, test } from 'vitest';
import type { AuditEntry } from '@cairn/core';
import { canonicalJson, isCairnError } from '@cairn/protocol';
import { canonicalEntryText } from './canonical-entry-text.ts';

const entry: AuditEntry = {
  seq: 7,
  time: '2026-11-22T10:00:00.000Z',
  actor: { kind: 'system', id: 'engine', via: 'engine' },
  action: 'attempt.started',
  entity: { kind: 'attempt', id: 'r1/a/1' },
  outcome: 'success',
  runId: 'r1',
  runSeq: 3,
  data: { itemId: 'a', attempt: 1, nested: { z: [1, { b: 2, a: 'é' }], a: null } },
};
const parsed = (value: AuditEntry) => JSON.parse(canonicalJson(value)) as AuditEntry;

test('the text is canonicalJson, whether the members come in canonical order (as parsed from a bundle) or not', () => {
  const { runId: _runId, runSeq: _runSeq, ...withoutRun } = entry;
  for (const value of [entry, parsed(entry), withoutRun, parsed(withoutRun), { ...parsed(entry), data: { b: 1, a: 2 } }, { ...parsed(entry), data: {} }]) {
    expect(canonicalEntryText(value)).toBe(canonicalJson(value));
  }
});

test('what JSON.stringify would write otherwise goes through canonicalJson: an undefined member, integer-like names', () => {
  const inOrder = parsed(entry);
  const cases: AuditEntry[] = [
    { ...inOrder, data: { a: undefined, b: 1 } as unknown as AuditEntry['data'] },
    { ...inOrder, data: { 10: 'x', 9: 'y' } },
    { ...inOrder, runId: undefined } as unknown as AuditEntry,
  ];
  for (const value of cases) expect(canonicalEntryText(value)).toBe(canonicalJson({ ...value }));
});

test('a lone surrogate in an id, an object that is not plain (an inherited toJSON) or a value that is not JSON in data is refused as canonicalJson refuses it', () => {
  const inOrder = parsed(entry);
  for (const value of [
    { ...inOrder, entity: { id: 'r1/\ud800', kind: 'item' } },
    { ...inOrder, actor: { id: '\udc00', kind: 'user', via: 'cli' } },
    { ...inOrder, data: { when: new Date(0) } },
    { ...inOrder, actor: Object.assign(Object.create({ toJSON: () => 'forged' }), inOrder.actor) },
  ] as AuditEntry[]) {
    let refusal: unknown;
    try {
      canonicalEntryText(value);
    } catch (error) {
      refusal = error;
    }
    expect(isCairnError(refusal, 'CAIRN_JSON_NOT_CANONICALIZABLE')).toBe(true);
  }
});
