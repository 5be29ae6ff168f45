import { expect, test } from 'vitest';
import { MerkleLog } from './merkle-log.ts';
import { verifyMultiInclusionOfTexts } from './parallel-multi-inclusion.ts';

// Above the threshold the work is split with a worker thread; the verdicts must be exactly
// those of the one-thread walk, including for every kind of broken proof.
test('the two-thread multiproof check agrees with the definition on large sets and catches changes', { timeout: 60_000 }, async () => {
  const texts = Array.from({ length: 120_000 }, (_, index) => `{"n":${index}}`);
  const log = MerkleLog.open();
  for (const text of texts) log.append(new TextEncoder().encode(text));
  // Leaves from the middle of the tree, with gaps, so the split sits below the root.
  const indexes = Array.from({ length: 60_000 }, (_, position) => 30_000 + position + (position % 7 === 0 ? 1 : 0)).filter(
    (index, position, all) => position === 0 || index > all[position - 1]!,
  );
  const chosen = indexes.map((index) => texts[index]!);
  const proof = log.multiInclusionProof(indexes);
  const root = log.rootHash();
  expect(await verifyMultiInclusionOfTexts(log.size, indexes, (position) => chosen[position]!, proof, root)).toBe(true);
  const flipped = (hash: Uint8Array) => Uint8Array.from(hash, (byte, position) => (position === 0 ? byte ^ 1 : byte));
  expect(await verifyMultiInclusionOfTexts(log.size, indexes, (position) => chosen[position]!, proof, flipped(root))).toBe(false);
  for (const position of [0, 3, Math.floor(proof.length / 2), proof.length - 1]) {
    expect(
      await verifyMultiInclusionOfTexts(
        log.size,
        indexes,
        (position) => chosen[position]!,
        proof.map((hash, index) => (index === position ? flipped(hash) : hash)),
        root,
      ),
    ).toBe(false);
  }
  expect(await verifyMultiInclusionOfTexts(log.size, indexes, (position) => chosen[position]!, proof.slice(1), root)).toBe(false);
  expect(await verifyMultiInclusionOfTexts(log.size, indexes, (position) => chosen[position]!, [...proof, root], root)).toBe(false);
  for (const position of [0, 17, 40_000, chosen.length - 1]) {
    const edited = chosen.map((text, index) => (index === position ? text.replace('}', ' }') : text));
    expect(await verifyMultiInclusionOfTexts(log.size, indexes, (position) => edited[position]!, proof, root)).toBe(false);
  }
});
