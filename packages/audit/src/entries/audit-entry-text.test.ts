import fc from 'fast-check';
import type { AuditEntry } from '@cairn/core';
import { auditActions, auditEntityKinds, canonicalJson, isCairnError } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { auditEntryProblem } from './audit-entry-problem.ts';
import { auditEntryText } from './audit-entry-text.ts';

// Valid entries of every shape: any action, kind, channel and outcome, ids with any text (unicode,
// quotes, control characters), with and without a run, and free-form data in any key order.
const text = fc.oneof(fc.string({ minLength: 1 }), fc.string({ unit: 'grapheme', minLength: 1 }), fc.constantFrom('"', '\\', '\u0000\n', 'é€😀', 'a"b'));
const entry: fc.Arbitrary<AuditEntry> = fc
  .record({
    seq: fc.nat(),
    time: fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((date) => date.toISOString()),
    actor: fc.record({ kind: fc.constantFrom('user', 'token', 'system'), id: text, via: fc.constantFrom('http', 'cli', 'mcp', 'inbox', 'schedule', 'engine') }),
    action: fc.constantFrom(...auditActions),
    entity: fc.record({ kind: fc.constantFrom(...auditEntityKinds), id: fc.oneof(text, fc.constant('')) }),
    outcome: fc.constantFrom('success', 'failure', 'denied'),
    run: fc.option(fc.record({ runId: text, runSeq: fc.nat() })),
    data: fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('itemId', 'attempt', 'a', 'Z', '10', '__proto__')), fc.jsonValue({ maxDepth: 3 }), {
      maxKeys: 6,
    }),
  })
  .map(({ run, ...fields }) => ({ ...fields, ...(run ?? {}) }) as AuditEntry);

test('writes the canonical JSON of 3,000 generated valid entries, byte for byte', () => {
  fc.assert(
    fc.property(entry, (value) => {
      expect(auditEntryProblem(value)).toBeUndefined();
      expect(auditEntryText(value)).toBe(canonicalJson(value));
    }),
    { numRuns: 3_000 },
  );
});

test('writes the members in canonical order whatever order the entry holds them in, and data sorted', () => {
  const value = {
    time: '2026-11-22T10:00:00.000Z',
    seq: 7,
    runSeq: 2,
    runId: 'r1',
    outcome: 'success',
    entity: { kind: 'attempt', id: 'r1/a/1' },
    data: { manifestDigest: 'sha256:00', itemId: 'a', attempt: 1 },
    actor: { via: 'engine', kind: 'system', id: 'cairn-engine' },
    action: 'attempt.dispatched',
  } as AuditEntry;
  expect(auditEntryText(value)).toBe(
    '{"action":"attempt.dispatched","actor":{"id":"cairn-engine","kind":"system","via":"engine"},"data":{"attempt":1,"itemId":"a","manifestDigest":"sha256:00"},"entity":{"id":"r1/a/1","kind":"attempt"},"outcome":"success","runId":"r1","runSeq":2,"seq":7,"time":"2026-11-22T10:00:00.000Z"}',
  );
});

test('refuses an id with a lone surrogate as canonical JSON does, naming where', () => {
  for (const value of [
    {
      seq: 0,
      time: '2026-11-22T10:00:00.000Z',
      actor: { kind: 'user', id: 'ana\ud800', via: 'http' },
      action: 'run.submitted',
      entity: { kind: 'run', id: 'r' },
      outcome: 'success',
      data: {},
    },
    {
      seq: 0,
      time: '2026-11-22T10:00:00.000Z',
      actor: { kind: 'user', id: 'ana', via: 'http' },
      action: 'run.submitted',
      entity: { kind: 'run', id: '\udc00' },
      outcome: 'success',
      data: {},
    },
    {
      seq: 0,
      time: '2026-11-22T10:00:00.000Z',
      actor: { kind: 'user', id: 'ana', via: 'http' },
      action: 'run.submitted',
      entity: { kind: 'run', id: 'r' },
      outcome: 'success',
      runId: 'r\ud800',
      runSeq: 0,
      data: {},
    },
    {
      seq: 0,
      time: '2026-11-22T10:00:00.000Z',
      actor: { kind: 'user', id: 'ana', via: 'http' },
      action: 'run.submitted',
      entity: { kind: 'run', id: 'r' },
      outcome: 'success',
      data: { note: '\ud800' },
    },
  ] as AuditEntry[]) {
    try {
      auditEntryText(value);
      expect.unreachable();
    } catch (error) {
      expect(isCairnError(error, 'CAIRN_JSON_NOT_CANONICALIZABLE')).toBe(true);
    }
  }
});
