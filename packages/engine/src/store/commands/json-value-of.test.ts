import { isCairnError } from '@cairn/protocol';
import { describe, expect, it } from 'vitest';
import { jsonValueOf } from './json-value-of.ts';

function refusal(value: unknown): unknown {
  try {
    jsonValueOf(value, 'The test payload');
  } catch (error) {
    return error;
  }
  return expect.unreachable('it was taken as JSON');
}

describe('jsonValueOf', () => {
  it('gives what JSON.stringify then JSON.parse would, as a copy, leaving out members that are undefined', () => {
    const value = { name: 'a', count: 2, ok: true, none: null, list: [1, 'two', { three: 3 }], gone: undefined, bare: Object.create(null) as object };
    const json = jsonValueOf(value, 'The test payload');
    expect(json).toStrictEqual(JSON.parse(JSON.stringify(value)));
    expect(json).not.toBe(value);
    expect(Object.hasOwn(json as object, 'gone')).toBe(false);
  });

  it.each([
    ['a Date', { when: new Date(0) }, '$.when', 'a Date is not a plain JSON object'],
    ['bytes', { sealed: { iv: new Uint8Array(2) } }, '$.sealed.iv', 'a Uint8Array is not a plain JSON object'],
    ['a number JSON cannot write', { limits: [1, Number.NaN] }, '$.limits[1]', 'NaN is not a finite number'],
    ['undefined in an array', [1, undefined], '$[1]', 'undefined is not JSON'],
    ['a bigint', { size: 1n }, '$.size', 'a bigint is not JSON'],
    ['a function', { call: () => 1 }, '$.call', 'a function is not JSON'],
    ['a __proto__ member', JSON.parse('{"spec": {"__proto__": {"admin": true}}}') as unknown, '$.spec.__proto__', 'a member named __proto__ is refused'],
  ])('refuses %s, naming where', (_what, value, path, reason) => {
    const error = refusal(value);
    expect(isCairnError(error, 'CAIRN_PAYLOAD_INVALID')).toBe(true);
    expect(error).toMatchObject({ path, message: `The test payload cannot travel as JSON: at ${path}, ${reason}.` });
  });

  it('refuses a value that contains itself, and takes one used twice side by side', () => {
    const shared = { a: 1 };
    expect(jsonValueOf({ left: shared, right: shared }, 'The test payload')).toStrictEqual({ left: { a: 1 }, right: { a: 1 } });
    const cycle: Record<string, unknown> = {};
    cycle['self'] = cycle;
    expect(refusal(cycle)).toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', path: '$.self' });
  });
});
