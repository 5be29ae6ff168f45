// Fuzzing the run-spec front door: 10,000 generated and mutated documents, as text and as
// values. Whatever comes in, the answer is a valid spec or CairnErrors whose every issue has a
// catalogue code, a JSON path and a message; never a crash, never an unnamed error.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { errorCodes, isCairnError, loadRunSpec, validateRunSpec, type ValidationIssue } from '../index.ts';
import { sampleSpec } from './run-spec.test-support.ts';

// Thousands of documents on one core: seconds on a quiet machine, many times that beside a CPU hog.
const fuzzTimeoutMs = 120_000;

const ids = fc.constantFrom('a', 'b', 'build', 'test', 'edit-alpha', 'x.y_z', 'Ünïcode', '', '-bad', '__proto__');
const runtime = fc.oneof(
  fc.record({ kind: fc.constant('command'), argv: fc.array(fc.string(), { minLength: 1, maxLength: 3 }) }),
  fc.record({ kind: fc.constant('agent'), adapter: fc.constantFrom('claude-code', 'x'), prompt: fc.string({ minLength: 1 }) }),
);
const item = fc.record(
  {
    id: ids,
    runtime,
    dependsOn: fc.array(ids, { maxLength: 3 }),
    needs: fc.dictionary(fc.constantFrom('a', 'b', 'c'), fc.record({ from: ids, select: fc.constantFrom('patch', 'output', 'stdout', 'bogus') })),
    apply: fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 2 }),
    locks: fc.array(
      fc.oneof(fc.constantFrom('db', 'file:x'), fc.record({ name: fc.constantFrom('db', 'file:x'), mode: fc.constantFrom('shared', 'exclusive', 'rw') })),
    ),
    timeout: fc.constantFrom('10m', '0s', '1h30m', '5'),
    effect: fc.constantFrom('pure', 'read-impure', 'write-impure', 'weird'),
    retry: fc.record({ maxAttempts: fc.integer({ min: -1, max: 200 }) }, { requiredKeys: [] }),
  },
  { requiredKeys: ['id', 'runtime'] },
);
const noisySpec = fc.record({
  version: fc.constantFrom(1, 1, 1, 2, '1'),
  name: fc.string({ maxLength: 20 }),
  items: fc.array(item, { minLength: 1, maxLength: 8 }),
});

/** Specs valid by construction: unique ids, dependencies only on earlier items, valid fields. */
const validSpec = fc
  .array(
    fc.record({
      runtime: fc.oneof(
        fc.record({
          kind: fc.constant('command' as const),
          argv: fc
            .tuple(fc.string({ minLength: 1, maxLength: 20 }), fc.array(fc.string({ maxLength: 20 }), { maxLength: 2 }))
            .map(([program, rest]) => [program, ...rest]),
        }),
        fc.record({
          kind: fc.constant('agent' as const),
          adapter: fc.constantFrom('claude-code', 'openai-compatible'),
          prompt: fc.string({ minLength: 1, maxLength: 40 }),
        }),
      ),
      upstream: fc.uniqueArray(fc.nat(), { maxLength: 3 }),
      patchNeed: fc.boolean(),
      effect: fc.constantFrom('pure', 'read-impure', 'write-impure'),
      timeout: fc.constantFrom('500ms', '30s', '10m', '2h'),
      locks: fc
        .uniqueArray(fc.constantFrom('db', 'file:x', 'gpu'), { maxLength: 2 })
        .map((names) => names.map((name, index) => (index === 0 ? name : { name, mode: 'shared' }))),
    }),
    { minLength: 1, maxLength: 12 },
  )
  .map((items) => ({
    version: 1,
    name: 'generated',
    items: items.map((item, index) => {
      const upstream = index === 0 ? [] : [...new Set(item.upstream.map((position) => `i${position % index}`))];
      const need = item.patchNeed && upstream.length > 0 ? { needs: { input: { from: upstream[0]!, select: 'patch' } }, apply: ['input'] } : {};
      return { id: `i${index}`, runtime: item.runtime, dependsOn: upstream, effect: item.effect, timeout: item.timeout, locks: item.locks, ...need };
    }),
  }));

/** A JSON path into a value, chosen by fast-check, and a replacement. */
const mutation = fc.record({ choice: fc.nat(), replacement: fc.jsonValue({ maxDepth: 3 }), remove: fc.boolean() });

function mutate(document: unknown, { choice, replacement, remove }: { choice: number; replacement: unknown; remove: boolean }): unknown {
  const copy = structuredClone(document) as Record<string, unknown>;
  const containers: [Record<string, unknown> | unknown[], string | number][] = [];
  const walk = (value: unknown) => {
    if (Array.isArray(value)) value.forEach((element, index) => (containers.push([value, index]), walk(element)));
    else if (value !== null && typeof value === 'object')
      for (const [key, element] of Object.entries(value)) (containers.push([value as Record<string, unknown>, key]), walk(element));
  };
  walk(copy);
  if (containers.length === 0) return replacement;
  const [container, key] = containers[choice % containers.length]!;
  if (remove && !Array.isArray(container)) delete (container as Record<string, unknown>)[key as string];
  else (container as Record<string | number, unknown>)[key] = replacement;
  return copy;
}

function expectNamedIssues(issues: readonly ValidationIssue[]): void {
  expect(issues.length).toBeGreaterThan(0);
  for (const issue of issues) {
    expect(errorCodes).toContain(issue.code);
    expect(issue.path).toMatch(/^\$/);
    expect(issue.message.length).toBeGreaterThan(5);
  }
}

/** Returns whether the document was valid, so a test can see the generator reaches both sides. */
function expectValidOrNamed(document: unknown): boolean {
  const result = validateRunSpec(document);
  if (!result.ok) expectNamedIssues(result.issues);
  return result.ok;
}

function expectLoadsOrNamedError(text: string): void {
  try {
    loadRunSpec(text);
  } catch (error) {
    if (!isCairnError(error)) throw error;
    expect(error.path).toMatch(/^\$/);
    expectNamedIssues(error.issues);
  }
}

describe('run spec fuzzing (10,000 documents)', () => {
  test('2,000 specs valid by construction are accepted', { timeout: fuzzTimeoutMs }, () => {
    fc.assert(
      fc.property(validSpec, (document) => {
        expect(validateRunSpec(document)).toMatchObject({ ok: true });
      }),
      { numRuns: 2_000 },
    );
  });

  test('2,000 noisy generated specs: valid, or refused with named issues', { timeout: fuzzTimeoutMs }, () => {
    fc.assert(
      fc.property(noisySpec, (document) => void expectValidOrNamed(document)),
      { numRuns: 2_000 },
    );
  });

  test('3,000 mutations of valid specs: valid, or refused with named issues; both happen', { timeout: fuzzTimeoutMs }, () => {
    let valid = 0;
    fc.assert(
      fc.property(validSpec, mutation, (document, change) => void (valid += Number(expectValidOrNamed(mutate(document, change))))),
      { numRuns: 3_000 },
    );
    expect(valid).toBeGreaterThan(30);
    expect(valid).toBeLessThan(2_970);
  });

  test('3,000 texts (mutated specs as JSON, truncated JSON, arbitrary strings): parsed, or refused with a CairnError', { timeout: fuzzTimeoutMs }, () => {
    const text = fc.oneof(
      fc.tuple(mutation, fc.nat()).map(([change, cut]) => {
        const json = JSON.stringify(mutate(sampleSpec(), change)) ?? 'null';
        return cut % 3 === 0 ? json.slice(0, cut % json.length) : json;
      }),
      fc.string(),
      fc.string({ unit: 'binary' }),
    );
    fc.assert(
      fc.property(text, (source) => expectLoadsOrNamedError(source)),
      { numRuns: 3_000 },
    );
  });
});
