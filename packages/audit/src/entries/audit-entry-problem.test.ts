import fc from 'fast-check';
import { auditEntrySchema } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { auditEntryProblem } from './audit-entry-problem.ts';

const valid = {
  seq: 3,
  time: '2026-11-22T10:00:00.000Z',
  actor: { kind: 'token', id: 'tok_1', via: 'http' },
  action: 'run.submitted',
  entity: { kind: 'run', id: 'r1' },
  outcome: 'success',
  runId: 'r1',
  runSeq: 0,
  data: { specDigest: 'sha256:00' },
};

const replacement = fc.oneof(
  fc.constantFrom(
    undefined,
    null,
    -1,
    1.5,
    0,
    '',
    'x',
    'run.submitted',
    'user',
    'http',
    'success',
    'run',
    '2026-11-22T10:00:00Z',
    '2026-11-22 10:00',
    [],
    {},
    true,
  ),
  fc.jsonValue({ maxDepth: 2 }),
);
const paths = [
  'seq',
  'time',
  'actor',
  'actor.kind',
  'actor.id',
  'actor.via',
  'actor.extra',
  'action',
  'entity',
  'entity.kind',
  'entity.id',
  'outcome',
  'runId',
  'runSeq',
  'data',
  'extra',
];

test('agrees with auditEntrySchema on 5,000 valid and mutated entries', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.constantFrom(...paths), replacement), { maxLength: 3 }), (changes) => {
      const entry = structuredClone(valid) as Record<string, unknown>;
      for (const [path, value] of changes) {
        const [head, tail] = path.split('.') as [string, string | undefined];
        const target = tail === undefined ? entry : entry[head];
        if (typeof target !== 'object' || target === null) continue;
        if (value === undefined) delete (target as Record<string, unknown>)[tail ?? head];
        else (target as Record<string, unknown>)[tail ?? head] = value;
      }
      expect(auditEntryProblem(entry) === undefined).toBe(auditEntrySchema.safeParse(entry).success);
    }),
    { numRuns: 5_000 },
  );
});

test('a member only inherited is no member of actor or entity, however for…in lists the names', () => {
  // for…in lists an inherited enumerable name after the own ones; the check must not take it for one.
  const actor = Object.assign(Object.create({ via: 'http' }) as Record<string, unknown>, { id: 'tok_1', kind: 'token' });
  const entry = { ...valid, actor };
  expect(auditEntryProblem(entry)).toBe('.actor: must be { kind, id, via }');
  // An entry whose own names are all fields, with an unknown one inherited, is judged on its own names.
  const inherited = Object.assign(Object.create({ extra: 1 }) as Record<string, unknown>, valid);
  expect(auditEntryProblem(inherited)).toBe(undefined);
  expect(auditEntryProblem({ ...valid, extra: 1 })).toBe('.extra: is not a field of an audit entry');
});
