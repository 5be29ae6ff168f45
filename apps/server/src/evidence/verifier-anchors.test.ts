// The anchors a verifier reads come from its own table: a `file` anchor is read live at the
// directory the verifier names, by the checkpoint's tree head (never where a receipt points),
// with the `detect` guarantee whatever its receipts declare; a kind it does not know is refused.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalAuditAnchor } from '@cairn/local';
import { isCairnError } from '@cairn/protocol';
import { afterEach, expect, test } from 'vitest';
import { trustedAnchorOf } from './verifier-anchors.ts';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

test('a file anchor is read by tree head at the named directory, as detect; a removed directory holds nothing and stays removed', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-verifier-anchor-'));
  directories.push(directory);
  const anchorDirectory = join(directory, 'anchor');
  const envelope = new TextEncoder().encode('{"payload":"checkpoint"}');
  const reference = { origin: 'cairn:test', treeSize: 3, rootHash: 'a'.repeat(64) };
  await createLocalAuditAnchor({ directory: anchorDirectory }).anchor({ ...reference, envelope });
  const anchor = trustedAnchorOf(`file:${anchorDirectory}`, '--anchor');
  expect(anchor).toMatchObject({ name: `file:${anchorDirectory}`, guarantee: 'detect' });
  const read = await anchor.read(reference);
  expect(read && Buffer.from(read.envelope).toString('utf8')).toBe('{"payload":"checkpoint"}');
  // Another root at that size: the anchor holds no such checkpoint.
  expect(await anchor.read({ ...reference, rootHash: 'b'.repeat(64) })).toBeNull();
  rmSync(anchorDirectory, { recursive: true });
  expect(await anchor.read(reference)).toBeNull();
  expect(existsSync(anchorDirectory)).toBe(false);
});

test('an anchor kind the verifier does not know, or no location, is bad input naming what it reads', () => {
  for (const [specification, message] of [
    ['s3-object-lock:s3://bucket/key', /cannot read \('s3-object-lock'; it reads: file\)/],
    ['file:', /names no location/],
    ['toString:x', /cannot read \('toString'/],
  ] as const) {
    const error = (() => {
      try {
        return trustedAnchorOf(specification, '--anchor');
      } catch (caught) {
        return caught;
      }
    })();
    expect(isCairnError(error, 'CAIRN_PAYLOAD_INVALID')).toBe(true);
    expect((error as Error).message).toMatch(message);
  }
});
