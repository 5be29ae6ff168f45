import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { SseEventSplitter } from './usage-meter-sse.ts';

type Collected = [event: string | undefined, data: string | undefined, oversized: boolean];

function split(pieces: Uint8Array[], wants: (event: string | undefined) => boolean = () => true, maxChars = 1_000_000): Collected[] {
  const events: Collected[] = [];
  const splitter = new SseEventSplitter(wants, (event, data, oversized) => events.push([event, data, oversized]), maxChars);
  for (const piece of pieces) splitter.push(piece);
  splitter.end();
  return events;
}

const stream = [
  ': opening comment',
  '',
  'event: greeting',
  'data: Grüße — 你好 🌍',
  '',
  'data: first line',
  'data:second line, no space',
  'id: 3',
  '',
  'event: skipped',
  'data: {"text":"🌍🌍🌍"}',
  '',
  'event: last',
  'data: 🌍',
  '',
  '',
].join('\n');
const bytes = new TextEncoder().encode(stream);
const wantsAllButSkipped = (event: string | undefined): boolean => event !== 'skipped';

const expected: Collected[] = [
  ['greeting', 'Grüße — 你好 🌍', false],
  [undefined, 'first line\nsecond line, no space', false],
  ['skipped', undefined, false],
  ['last', '🌍', false],
];

describe('SseEventSplitter', () => {
  test('splits events, joins multi-line data, drops comments and unwanted data', () => {
    expect(split([bytes], wantsAllButSkipped)).toEqual(expected);
  });

  test('property: the same events at any cut points, characters cut between chunks intact', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 30 }), (cuts) => {
        const pieces: Uint8Array[] = [];
        let start = 0;
        for (const cut of cuts.toSorted((a, b) => a - b)) {
          pieces.push(bytes.slice(start, cut));
          start = cut;
        }
        pieces.push(bytes.slice(start));
        expect(split(pieces, wantsAllButSkipped)).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  test('byte by byte', () => {
    const pieces = Array.from(bytes, (byte) => Uint8Array.of(byte));
    expect(split(pieces, wantsAllButSkipped)).toEqual(expected);
  });

  test('a wanted event larger than the bound is reported as oversized, and the next one is read', () => {
    const text = `event: big\ndata: ${'x'.repeat(100)}\n\nevent: small\ndata: ok\n\n`;
    const encoded = new TextEncoder().encode(text);
    const whole = split([encoded], () => true, 50);
    const pieces = Array.from({ length: Math.ceil(encoded.length / 7) }, (_, index) => encoded.slice(index * 7, index * 7 + 7));
    expect(whole).toEqual([
      ['big', undefined, true],
      ['small', 'ok', false],
    ]);
    expect(split(pieces, () => true, 50)).toEqual(whole);
  });

  test('a data line split over many chunks of an unwanted event is skipped whatever its size', () => {
    const text = `event: delta\ndata: ${'y'.repeat(500)}\n\nevent: usage\ndata: {}\n\n`;
    const encoded = new TextEncoder().encode(text);
    const pieces = Array.from({ length: Math.ceil(encoded.length / 3) }, (_, index) => encoded.slice(index * 3, index * 3 + 3));
    expect(split(pieces, (event) => event === 'usage', 50)).toEqual([
      ['delta', undefined, false],
      ['usage', '{}', false],
    ]);
  });
});
