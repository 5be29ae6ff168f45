// A bundle file comes from anyone. What is not a regular file, or is over a limit, is refused
// before it is read whole: /dev/zero and a FIFO at once, 130 MB holding ten million keys in one
// object after its first piece.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { bundleLimits } from './bundle-limits.ts';
import { readBundleFile } from './read-bundle-file.ts';
import { createRunEvidence } from './run-evidence.test-support.ts';
import { verifyBundle } from './verify-bundle.ts';

const scratch = mkdtempSync(join(tmpdir(), 'cairn-bundle-file-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const refusal = (read: () => unknown) => {
  try {
    read();
  } catch (error) {
    return error as { code: string; message: string; details: Record<string, unknown> };
  }
  throw new Error('it was read');
};

describe('readBundleFile refuses what is not a regular file, naming the path and what it is', () => {
  test.runIf(process.platform === 'linux')('/dev/zero, a character device, without reading a byte of it', () => {
    expect(refusal(() => readBundleFile('/dev/zero'))).toMatchObject({
      code: 'CAIRN_PAYLOAD_INVALID',
      message: expect.stringContaining('Cannot read the evidence bundle /dev/zero: it is a character device, not a regular file.') as string,
    });
  });

  test.runIf(process.platform !== 'win32')('a FIFO with no writer, at once rather than waiting on it', () => {
    const fifo = join(scratch, 'bundle.fifo');
    execFileSync('mkfifo', [fifo]);
    const started = performance.now();
    expect(refusal(() => readBundleFile(fifo)).message).toContain(`${fifo}: it is a FIFO (named pipe), not a regular file.`);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  test('a directory, and a path where nothing is', () => {
    expect(refusal(() => readBundleFile(scratch)).message).toContain(`${scratch}: it is a directory, not a regular file.`);
    expect(refusal(() => readBundleFile(join(scratch, 'absent.json'))).message).toContain('there is no such file');
  });
});

describe('readBundleFile reads within the limits verifyBundle checks', () => {
  test('a genuine bundle is read whole and verifies', async () => {
    const evidence = await createRunEvidence();
    const file = join(scratch, 'genuine.json');
    writeFileSync(file, evidence.bytes);
    const bytes = readBundleFile(file);
    expect(Buffer.compare(bytes, evidence.bytes)).toBe(0);
    expect((await verifyBundle(bytes, { trustedKeys: [evidence.signer.record] })).valid).toBe(true);
  });

  test('a file over maxBundleBytes is refused before it is read, naming the limit and how to raise it', async () => {
    const evidence = await createRunEvidence();
    const file = join(scratch, 'over.json');
    writeFileSync(file, evidence.bytes);
    const limit = evidence.bytes.length - 1;
    const error = refusal(() => readBundleFile(file, { limits: { maxBundleBytes: limit }, limitOption: '--max-bundle-bytes' }));
    expect(error.message).toContain(`it is ${evidence.bytes.length} bytes, more than ${limit}, the most a verifier reads (--max-bundle-bytes)`);
    expect(error.details).toEqual({ limit: 'maxBundleBytes', bytes: evidence.bytes.length, maxBundleBytes: limit });
    expect(readBundleFile(file, { limits: { maxBundleBytes: evidence.bytes.length } })).toHaveLength(evidence.bytes.length);
  });

  test('ten million keys in one object (130 MB) are refused after the first piece, naming the limit and the JSON path', () => {
    const file = join(scratch, 'ten-million-keys.json');
    writeTenMillionKeys(file);
    const rssBefore = process.memoryUsage().rss;
    const started = performance.now();
    const error = refusal(() => readBundleFile(file));
    const elapsed = performance.now() - started;
    expect(error.message).toContain(
      `the bundle exceeds what a verifier reads: the object at $.entries[0] has more than ${bundleLimits.maxKeysPerObject} keys (limit maxKeysPerObject)`,
    );
    expect(error.details).toEqual({ limit: 'maxKeysPerObject', jsonPath: '$.entries[0]' });
    // Reading it whole would take its 130 MB into memory, and parsing it gigabytes and minutes.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 1024 * 1024);
    expect(elapsed).toBeLessThan(2_000);
  });
});

/** `{"entries":[{"k0000000":0,...,"k9999999":0}],"format":"cairn.bundle/v1"}`, written 100,000 keys at a time. */
function writeTenMillionKeys(file: string): void {
  const perPiece = 100_000;
  const keyBytes = '"k0000000":0,'.length;
  const piece = Buffer.alloc(perPiece * keyBytes);
  for (let index = 0; index < perPiece; index++) piece.write(`"k00${String(index).padStart(5, '0')}":0,`, index * keyBytes, 'latin1');
  const descriptor = openSync(file, 'w');
  try {
    writeSync(descriptor, '{"entries":[{');
    for (let high = 0; high < 100; high++) {
      const digits = String(high).padStart(2, '0');
      for (let index = 0; index < perPiece; index++) piece.write(digits, index * keyBytes + 2, 'latin1');
      // The last key of all has no comma after it.
      writeSync(descriptor, high === 99 ? piece.subarray(0, piece.length - 1) : piece);
    }
    writeSync(descriptor, '}],"format":"cairn.bundle/v1"}');
  } finally {
    closeSync(descriptor);
  }
}
