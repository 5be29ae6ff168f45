import { expect, test } from 'vitest';
import { createTestSigner } from '../dsse/test-signer.test-support.ts';
import { MerkleLog } from '../merkle/merkle-log.ts';
import { signCheckpoint } from './checkpoint-envelope.ts';
import { verifyCheckpointConsistency } from './verify-checkpoint-consistency.ts';

const hex = (hash: Uint8Array) => Buffer.from(hash).toString('hex');

test('consecutive checkpoints link by a consistency proof; a rewritten history or a rollback does not', async () => {
  const { signer, record } = createTestSigner();
  const log = MerkleLog.open();
  const checkpointAt = (size: number, rootHash = hex(log.rootHash(size))) =>
    signCheckpoint({ origin: 'cairn:test', treeSize: size, rootHash, time: '2026-11-22T10:00:00.000Z' }, signer);
  for (let index = 0; index < 20; index++) log.append(new TextEncoder().encode(`entry ${index}`));
  const older = await checkpointAt(7);
  const newer = await checkpointAt(20);
  const proof = log.consistencyProof(7, 20).map(hex);
  expect(verifyCheckpointConsistency(older, newer, proof, [record])).toMatchObject({ valid: true });

  const rewritten = MerkleLog.open();
  for (let index = 0; index < 20; index++) rewritten.append(new TextEncoder().encode(index === 3 ? 'forged' : `entry ${index}`));
  const forgedNewer = await checkpointAt(20, hex(rewritten.rootHash()));
  expect(verifyCheckpointConsistency(older, forgedNewer, rewritten.consistencyProof(7, 20).map(hex), [record])).toMatchObject({
    valid: false,
    detail: expect.stringMatching(/rewritten/),
  });
  expect(verifyCheckpointConsistency(newer, older, proof, [record])).toMatchObject({ valid: false, detail: expect.stringMatching(/rollback/) });
  expect(verifyCheckpointConsistency(older, newer, proof, [createTestSigner().record])).toMatchObject({ valid: false });
});
