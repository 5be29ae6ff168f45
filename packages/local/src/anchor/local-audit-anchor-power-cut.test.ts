// The local anchor on a disk whose power is cut right after it answered: every checkpoint it
// returned a receipt for is read back whole (envelope, receipt and journal agree), so a verifier
// holding that receipt finds the anchoring it was promised.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { AnchorCheckpoint } from '@cairn/core';
import { usePowerCutFileSystem } from '@cairn/conformance/faults';
import { expect, test } from 'vitest';
import { createLocalAuditAnchor } from './local-audit-anchor.ts';

const power = usePowerCutFileSystem();
const origin = 'cairn:power-cut';

function checkpoint(treeSize: number): AnchorCheckpoint {
  const rootHash = createHash('sha256').update(`root ${treeSize}`).digest('hex');
  return { origin, treeSize, rootHash, envelope: new TextEncoder().encode(`{"payload":"${treeSize}"}`) };
}

test('every checkpoint anchored before a power cut is read back after it, receipt and envelope whole', async () => {
  const directory = join(power.path, 'anchor');
  const receipts = [];
  for (const treeSize of [16, 32, 48]) receipts.push(await createLocalAuditAnchor({ directory }).anchor(checkpoint(treeSize)));
  await power.cut();
  const restarted = createLocalAuditAnchor({ directory });
  for (const receipt of receipts) {
    const read = await restarted.read({ origin, treeSize: receipt.treeSize, rootHash: receipt.rootHash });
    expect(read?.receipt).toEqual(receipt);
    expect(new TextDecoder().decode(read?.envelope)).toBe(`{"payload":"${receipt.treeSize}"}`);
  }
  // Anchored again after the restart (the engine retries one it did not hear back from): the first anchoring stands.
  expect(await restarted.anchor(checkpoint(48))).toEqual(receipts[2]);
});
