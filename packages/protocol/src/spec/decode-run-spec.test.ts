import { expect, test } from 'vitest';
import { isCairnError } from '../errors/cairn-error.ts';
import { decodeRunSpec } from './decode-run-spec.ts';
import { parseRunSpec } from './parse-run-spec.ts';

const refusal = (bytes: number[]) => {
  try {
    decodeRunSpec(Uint8Array.from(bytes), 'run.yaml');
  } catch (error) {
    if (isCairnError(error, 'CAIRN_RUN_SPEC_UNPARSABLE')) return { message: error.message, offset: error.details['byteOffset'] };
    throw error;
  }
  throw new Error('expected a refusal');
};

test('UTF-8 decodes as it is; a byte-order mark is dropped', () => {
  expect(decodeRunSpec(new TextEncoder().encode('name: café ✓ 😀'), 'run.yaml')).toBe('name: café ✓ 😀');
  expect(decodeRunSpec(Uint8Array.from([0xef, 0xbb, 0xbf, 0x61]))).toBe('a');
});

test.each([
  ['a stray continuation byte', [0x61, 0x62, 0x80, 0x63], 2],
  ['a Latin-1 é', [0x63, 0x61, 0x66, 0xe9, 0x21], 3],
  ['an overlong encoding of "/"', [0x61, 0xc0, 0xaf], 1],
  ['an encoded surrogate', [0x61, 0x62, 0xed, 0xa0, 0x80], 2],
  ['a sequence cut off at the end', [0x61, 0xe2, 0x9c], 1],
])('%s is refused, naming the byte where it starts', (_, bytes, offset) => {
  const refused = refusal(bytes);
  expect(refused.offset).toBe(offset);
  expect(refused.message).toContain(`run.yaml is not UTF-8 text: byte ${offset} (0x${bytes[offset]!.toString(16)})`);
});

test('UTF-16 says so, since it is the likely fix', () => {
  expect(refusal([0xff, 0xfe, 0x61, 0x00]).message).toBe('run.yaml is UTF-16 text; save it as UTF-8.');
});

test('a document nested past the limit is CAIRN_RUN_SPEC_TOO_LARGE before any parser recurses (JSON and YAML flow), and brackets in strings do not count', () => {
  for (const text of [`{"a":${'['.repeat(5_000)}${']'.repeat(5_000)}}`, `a: ${'['.repeat(5_000)}${']'.repeat(5_000)}`]) {
    expect(() => parseRunSpec(text, { source: 'deep.yaml' })).toThrow(
      expect.objectContaining({ code: 'CAIRN_RUN_SPEC_TOO_LARGE', message: expect.stringMatching(/^deep\.yaml nests 500[01] levels deep/) }),
    );
  }
  expect(parseRunSpec(`{"name":"${'['.repeat(100)}"}`)).toEqual({ name: '['.repeat(100) });
  expect(parseRunSpec(`name: it's '${'{'.repeat(100)}'`)).toEqual({ name: `it's '${'{'.repeat(100)}'` });
});
