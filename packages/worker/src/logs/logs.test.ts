import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { LogCapture } from './log-capture.ts';
import { SecretRedactor } from './secret-redactor.ts';

/** Feeds `text` to a redactor in the given chunk sizes and returns everything it let out. */
function redactInChunks(secrets: Record<string, string>, text: string, sizes: readonly number[]): string {
  const redactor = new SecretRedactor(secrets);
  const bytes = Buffer.from(text);
  const output: Buffer[] = [];
  let offset = 0;
  for (const size of sizes) {
    if (offset >= bytes.byteLength) break;
    output.push(redactor.write(bytes.subarray(offset, offset + size)));
    offset += size;
  }
  output.push(redactor.write(bytes.subarray(offset)), redactor.end());
  return Buffer.concat(output).toString('utf8');
}

describe('SecretRedactor', () => {
  test('replaces each value with [redacted:NAME]', () => {
    expect(redactInChunks({ TOKEN: 'hunter2', KEY: 'abc' }, 'token=hunter2 key=abc again hunter2', [])).toBe(
      'token=[redacted:TOKEN] key=[redacted:KEY] again [redacted:TOKEN]',
    );
  });

  test('a value split across chunks at every possible place is still redacted', () => {
    const text = 'before s3cr3t-value after';
    for (let cut = 0; cut <= text.length; cut++) {
      expect(redactInChunks({ S: 's3cr3t-value' }, text, [cut]), `cut at ${cut}`).toBe('before [redacted:S] after');
    }
    expect(redactInChunks({ S: 's3cr3t-value' }, text, Array(text.length).fill(1))).toBe('before [redacted:S] after');
  });

  test('a longer secret that starts like a shorter one is not cut by it, whatever the chunks', () => {
    const secrets = { SHORT: 'abc', LONG: 'abcdef' };
    for (let cut = 0; cut <= 12; cut++) expect(redactInChunks(secrets, 'xxabcdefyyabc', [cut])).toBe('xx[redacted:LONG]yy[redacted:SHORT]');
    // A secret inside another that begins earlier must not let the longer one's head out either.
    for (let cut = 0; cut <= 10; cut++) expect(redactInChunks({ LONG: 'SECRET', INNER: 'EC' }, 'xxSECRETyy', [cut])).toBe('xx[redacted:LONG]yy');
  });

  test('a prefix of a secret that never completes is let out at the end, unchanged', () => {
    expect(redactInChunks({ S: 'password' }, 'pass', [2])).toBe('pass');
    expect(redactInChunks({ S: 'password' }, 'passpassword', [5])).toBe('pass[redacted:S]');
  });

  test('empty values are ignored; without secrets bytes pass straight through', () => {
    expect(redactInChunks({ EMPTY: '' }, 'text', [1])).toBe('text');
    expect(redactInChunks({}, 'é日本😀', [1, 1, 1])).toBe('é日本😀');
  });

  test('property: any chunking gives what redacting the whole text at once gives, and no value survives', () => {
    const alphabet = fc.constantFrom('a', 'b', 'c', 'x', '\n');
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: alphabet, minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 3 }),
        fc.string({ unit: alphabet, maxLength: 80 }),
        fc.array(fc.integer({ min: 1, max: 9 }), { maxLength: 30 }),
        (values, text, sizes) => {
          const secrets = Object.fromEntries(values.map((value, index) => [`S${index}`, value]));
          const whole = redactInChunks(secrets, text, []);
          expect(redactInChunks(secrets, text, sizes)).toBe(whole);
          for (const value of values) expect(whole.replace(/\[redacted:S\d+\]/g, '|')).not.toContain(value);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('LogCapture', () => {
  test('keeps the first maxBytes and appends one marker line saying how much was dropped', () => {
    const log = new LogCapture('stdout', 10, {});
    log.write(Buffer.from('0123456'));
    log.write(Buffer.from('789abcdef'));
    expect(Buffer.from(log.finish()).toString()).toBe('0123456789\n[cairn] stdout truncated: kept the first 10 of 16 bytes (limits.maxLogBytes)\n');
  });

  test('no marker when everything fit; maxBytes 0 keeps only the marker', () => {
    const fits = new LogCapture('stderr', 10, {});
    fits.write(Buffer.from('0123456789'));
    expect(Buffer.from(fits.finish()).toString()).toBe('0123456789');
    const none = new LogCapture('stderr', 0, {});
    none.write(Buffer.from('x'));
    expect(Buffer.from(none.finish()).toString()).toBe('\n[cairn] stderr truncated: kept the first 0 of 1 bytes (limits.maxLogBytes)\n');
  });

  test('redacts before it caps, so a secret at the cut does not leak its head', () => {
    const log = new LogCapture('stdout', 12, { TOKEN: 'supersecret' });
    log.write(Buffer.from('value: super'));
    log.write(Buffer.from('secret!'));
    const stored = Buffer.from(log.finish()).toString();
    expect(stored.startsWith('value: [reda')).toBe(true);
    expect(stored).not.toContain('super');
  });

  test('copies what it keeps: a reused chunk buffer does not change the stored log', () => {
    const log = new LogCapture('stdout', 100, {});
    const chunk = Buffer.from('first');
    log.write(chunk);
    chunk.write('XXXXX');
    expect(Buffer.from(log.finish()).toString()).toBe('first');
  });
});
