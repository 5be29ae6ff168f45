// The browser build of the verifier calls src/browser-node/node-buffer.ts where @cairn/audit and
// @cairn/protocol call Node's global Buffer: for the same inputs each call must answer what Node's
// Buffer answers, including for malformed hex and base64 (a bundle is untrusted input).
import { expect, test } from 'vitest';
import { Buffer as BrowserBuffer, BufferBytes } from '../src/browser-node/node-buffer.ts';

const bytesOf = (bytes: Uint8Array) => Array.from(bytes);
const samples = [
  new Uint8Array(),
  Uint8Array.of(0),
  Uint8Array.of(0xff, 0xfe),
  Uint8Array.of(1, 2, 3),
  Uint8Array.from({ length: 257 }, (_, index) => (index * 31) & 0xff),
];

test('hex and base64 encode as Node encodes, and decode back', () => {
  for (const sample of samples) {
    for (const encoding of ['hex', 'base64'] as const) {
      const text = Buffer.from(sample).toString(encoding);
      expect(BrowserBuffer.from(sample).toString(encoding)).toBe(text);
      expect(bytesOf(BrowserBuffer.from(text, encoding))).toEqual(bytesOf(sample));
    }
  }
});

test('malformed hex decodes as Node decodes it: up to the first pair that is not hex', () => {
  for (const text of [
    '',
    'a',
    'abc',
    'ABcd',
    'abzz12',
    'zz',
    '0g',
    'ab cd',
    '  ',
    'abcdef0123456789ABCDEF',
    'ab\u0130c',
    'ab\u0161\u0162',
    'a\u0121',
    '\u4e00\u4e01',
    '1234x',
  ]) {
    expect(bytesOf(BrowserBuffer.from(text, 'hex')), text).toEqual(bytesOf(Buffer.from(text, 'hex')));
  }
});

test('base64 decoding is exact for every canonical text, and a text that is not canonical never encodes back to itself', () => {
  // decodeBase64Strict (@cairn/audit) decodes, encodes again and compares: its answer must be
  // Node's for well-formed and malformed texts alike.
  const strict = (buffer: { from(text: string, encoding: 'base64'): { toString(encoding: 'base64'): string } }, text: string) =>
    buffer.from(text, 'base64').toString('base64') === text;
  const texts = [
    '',
    'AA==',
    'AAE=',
    'AAEC',
    'AA',
    'AA=',
    'AA===',
    'A',
    'AB==',
    'AAE',
    'AA==AA==',
    'A A==',
    'AA\n==',
    '-_8=',
    '+/8=',
    'ab$c',
    '====',
    'QUJD',
    'QUJDRA==',
    'QUJDRA',
  ];
  for (const text of texts) expect(strict(BrowserBuffer, text), text).toBe(strict(Buffer, text));
  for (const sample of samples) {
    const canonical = Buffer.from(sample).toString('base64');
    expect(bytesOf(BrowserBuffer.from(canonical, 'base64'))).toEqual(bytesOf(Buffer.from(canonical, 'base64')));
  }
  // The forgiving reads Node makes of the common slack: the URL-safe alphabet, whitespace, a missing pad.
  for (const text of ['-_8=', 'A A==', 'AA\n==', 'AA', 'QUJDRA'])
    expect(bytesOf(BrowserBuffer.from(text, 'base64')), text).toEqual(bytesOf(Buffer.from(text, 'base64')));
});

test('UTF-8 text encodes and decodes as Node does, lone surrogates and a byte order mark included', () => {
  for (const text of ['', 'plain', '{"é":"ü"}', '\u0000x', '\ud800', 'a\udc00b', '\ufeffbom', '😀']) {
    expect(bytesOf(BrowserBuffer.from(text, 'utf8'))).toEqual(bytesOf(Buffer.from(text, 'utf8')));
    expect(bytesOf(BrowserBuffer.from(text))).toEqual(bytesOf(Buffer.from(text)));
  }
  for (const bytes of [
    Uint8Array.of(0xef, 0xbb, 0xbf, 0x41),
    Uint8Array.of(0xc3),
    Uint8Array.of(0xe2, 0x82),
    Uint8Array.of(0xff, 0x41),
    Uint8Array.of(0xf0, 0x9f, 0x98, 0x80),
  ]) {
    expect(BrowserBuffer.from(bytes).toString('utf8')).toBe(Buffer.from(bytes).toString('utf8'));
    expect(BrowserBuffer.from(bytes).toString()).toBe(Buffer.from(bytes).toString());
  }
});

test('from copies bytes and views an ArrayBuffer; alloc zero-fills; concat, compare and equals agree with Node', () => {
  const source = Uint8Array.of(1, 2, 3, 4);
  const copy = BrowserBuffer.from(source);
  source[0] = 9;
  expect(copy[0]).toBe(1);
  const view = BrowserBuffer.from(source.buffer, 1, 2);
  source[1] = 7;
  expect(bytesOf(view)).toEqual([7, 3]);
  expect(bytesOf(BrowserBuffer.from(source.buffer))).toEqual(bytesOf(Buffer.from(source.buffer)));
  for (const allocate of ['alloc', 'allocUnsafe', 'allocUnsafeSlow'] as const) expect(bytesOf(BrowserBuffer[allocate](5))).toEqual([0, 0, 0, 0, 0]);
  expect(bytesOf(BrowserBuffer.concat([Uint8Array.of(1), new Uint8Array(), Uint8Array.of(2, 3)]))).toEqual([1, 2, 3]);
  const pairs: [number[], number[]][] = [
    [[], []],
    [[1], []],
    [[], [1]],
    [
      [1, 2],
      [1, 3],
    ],
    [
      [1, 3],
      [1, 2],
    ],
    [
      [1, 2],
      [1, 2, 0],
    ],
    [[2], [1, 9]],
    [
      [5, 5],
      [5, 5],
    ],
  ];
  for (const [left, right] of pairs) {
    expect(BrowserBuffer.compare(Uint8Array.from(left), Uint8Array.from(right))).toBe(Buffer.compare(Uint8Array.from(left), Uint8Array.from(right)));
    expect(BrowserBuffer.from(left).equals(Uint8Array.from(right))).toBe(Buffer.from(left).equals(Uint8Array.from(right)));
  }
  // A view of a view stays the same kind of bytes, as a Buffer's subarray stays a Buffer.
  const part = BrowserBuffer.from('00010203', 'hex').subarray(1, 3);
  expect(part).toBeInstanceOf(BufferBytes);
  expect((part as BufferBytes).toString('hex')).toBe('0102');
});

test('an encoding it does not know is refused, never answered in another one', () => {
  expect(() => BrowserBuffer.from('00', 'latin1' as 'hex')).toThrow(/utf8, hex and base64 only, not latin1/);
  expect(() => BrowserBuffer.alloc(1).toString('base64url' as 'hex')).toThrow(/not base64url/);
});
