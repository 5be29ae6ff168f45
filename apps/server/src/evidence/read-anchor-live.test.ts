// `cairn verify --online` reads a file anchor where its receipt says it is: what the anchor holds,
// nothing when its folder is gone (without creating it again), and a clear refusal for a kind of
// anchor it cannot read.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { AnchorReceipt } from '@cairn/core';
import { createLocalAuditAnchor } from '@cairn/local';
import { isCairnError } from '@cairn/protocol';
import { afterEach, expect, test } from 'vitest';
import { readAnchorLive } from './read-anchor-live.ts';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

test('reads the anchored envelope back through the receipt alone; a removed folder holds nothing and stays removed', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-live-anchor-'));
  directories.push(directory);
  const envelope = new TextEncoder().encode('{"payload":"checkpoint"}');
  const receipt = await createLocalAuditAnchor({ directory: join(directory, 'anchor') }).anchor({ origin: 'cairn:test', treeSize: 3, rootHash: 'a'.repeat(64), envelope });
  const read = await readAnchorLive(receipt);
  expect(read && Buffer.from(read.envelope).toString('utf8')).toBe('{"payload":"checkpoint"}');
  expect(read?.receipt).toEqual(receipt);

  // A receipt for another root at that size: the anchor holds no such checkpoint.
  expect(await readAnchorLive({ ...receipt, rootHash: 'b'.repeat(64) })).toBeNull();

  rmSync(dirname(receipt.location), { recursive: true });
  expect(await readAnchorLive(receipt)).toBeNull();
  expect(existsSync(dirname(receipt.location))).toBe(false);
});

test('an anchor kind it cannot read is refused with CAIRN_ANCHOR_UNAVAILABLE naming it and what to do', async () => {
  const receipt: AnchorReceipt = { anchor: 's3-object-lock', guarantee: 'external-immutable', location: 's3://bucket/key', anchoredAt: '2026-01-01T00:00:00.000Z', origin: 'o', treeSize: 1, rootHash: 'a'.repeat(64), envelopeDigest: `sha256:${'c'.repeat(64)}` };
  const error = await readAnchorLive(receipt).catch((caught: unknown) => caught);
  expect(isCairnError(error, 'CAIRN_ANCHOR_UNAVAILABLE')).toBe(true);
  expect((error as Error).message).toMatch(/'file' anchors only.*'s3-object-lock'.*Verify without --online/);
});
