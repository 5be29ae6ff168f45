import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { canonicalJson, isCairnError } from '../index.ts';

describe('canonicalJson (RFC 8785)', () => {
  test('the RFC 8785 section 3.2.2 example', () => {
    const input = JSON.parse(
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}',
    );
    expect(canonicalJson(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  test('sorts member names by UTF-16 code units (RFC 8785 section 3.2.3)', () => {
    const input = { '\u20ac': 1, '\r': 2, '\ufb33': 3, '1': 4, '\ud83d\ude00': 5, '\u0080': 6, '\u00f6': 7 };
    // Compare the text: Object.keys would put the integer-like "1" first whatever the bytes say.
    const values = [...canonicalJson(input).matchAll(/:(\d)/g)].map((match) => Number(match[1]));
    expect(values).toEqual([2, 4, 6, 7, 1, 5, 3]);
  });

  test('writes numbers as ECMAScript does, -0 as 0', () => {
    expect(canonicalJson([-0, 1e21, 1e-7, 123456789012345680000, 0.1])).toBe('[0,1e+21,1e-7,123456789012345680000,0.1]');
  });

  test('omits undefined members and sorts nested objects', () => {
    expect(canonicalJson({ b: { d: 1, c: [{ z: 1, a: 2 }] }, a: undefined })).toBe('{"b":{"c":[{"a":2,"z":1}],"d":1}}');
  });

  test.each([
    ['a non-finite number', { a: [1, Number.NaN] }, '$.a[1]'],
    ['infinity', { x: Infinity }, '$.x'],
    ['a lone surrogate', { 'bad key': '\ud800' }, '$["bad key"]'],
    ['a bigint', { n: 1n }, '$.n'],
    ['a Date', { when: new Date(0) }, '$.when'],
    ['undefined in an array', [undefined], '$[0]'],
    ['a function', { f: () => 1 }, '$.f'],
  ])('refuses %s and names its path', (_what, value, path) => {
    try {
      canonicalJson(value);
      expect.unreachable();
    } catch (error) {
      expect(isCairnError(error, 'CAIRN_JSON_NOT_CANONICALIZABLE')).toBe(true);
      expect((error as { path: string }).path).toBe(path);
    }
  });

  test('refuses cycles and very deep nesting instead of overflowing the stack', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/cycle/);
    let deep: unknown = 1;
    for (let level = 0; level < 10_000; level++) deep = [deep];
    expect(() => canonicalJson(deep)).toThrow(/deeper than 512/);
  });

  test('a member named __proto__ is written as a member in any key order (found by the property test)', () => {
    const value = JSON.parse('{"b":1,"__proto__":{"x":1},"a":2}');
    expect(canonicalJson(value)).toBe('{"__proto__":{"x":1},"a":2,"b":1}');
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
  });

  test('a shared (non-cyclic) object may appear twice', () => {
    const shared = { a: 1 };
    expect(canonicalJson({ x: shared, y: shared })).toBe('{"x":{"a":1},"y":{"a":1}}');
  });
});

describe('canonicalJson agrees with a plain reference implementation', () => {
  // The definition, written naively: sort keys by code units at every level, JSON.stringify the rest.
  function reference(value: unknown): string {
    if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
    if (typeof value === 'object' && value !== null) {
      const record = value as Record<string, unknown>;
      const members = Object.keys(record)
        .sort()
        .filter((name) => record[name] !== undefined)
        .map((name) => `${JSON.stringify(name)}:${reference(record[name])}`);
      return `{${members.join(',')}}`;
    }
    return JSON.stringify(value);
  }

  test('on 3,000 generated JSON values (any key order, integer-like and unicode keys)', () => {
    const keys = fc.oneof(fc.string(), fc.constantFrom('0', '1', '9', '10', '01', 'a', 'B', 'é', '\u20ac', '\ud83d\ude00'));
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.jsonValue({ maxDepth: 1 }),
        fc.array(tie('node'), { maxLength: 4 }),
        fc.dictionary(keys, tie('node'), { maxKeys: 6 }),
      ),
    })).node;
    fc.assert(
      fc.property(value, (input) => {
        if (!JSON.stringify(input).isWellFormed() || /\\ud[89a-f]/i.test(JSON.stringify(input))) return;
        expect(canonicalJson(input)).toBe(reference(input));
      }),
      { numRuns: 3_000 },
    );
  });

  test('on large documents too, which are sorted as they are written instead of copied', () => {
    // Past 10,000 values the writer switches strategy; both must give the same text.
    const items = Array.from({ length: 5_000 }, (_, index) => ({
      runtime: { kind: 'command', argv: ['make', String(index)] },
      id: `i${index}`,
      z: { b: 1, a: [index] },
    }));
    const document = { version: 1, name: 'large', items };
    expect(canonicalJson(document)).toBe(reference(document));
    expect(canonicalJson({ items: items.slice(0, 10) })).toBe(reference({ items: items.slice(0, 10) }));
  });

  test('a member named __proto__ stays a member in a large document, sorted as it is written', () => {
    const items = Array.from({ length: 5_000 }, (_, index) => JSON.parse(`{"z":${index},"__proto__":{"polluted":true},"a":[${index}]}`) as unknown);
    const text = canonicalJson({ items });
    expect(text).toBe(reference({ items }));
    expect(text.startsWith('{"items":[{"__proto__":{"polluted":true},"a":[0],"z":0},')).toBe(true);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});
