// The audit log's hot paths: appending (every state change appends an entry), and proofs
// (every bundle carries one per entry; every verifier checks them).
import { MerkleLog, verifyConsistency, verifyInclusion } from '@cairn/audit';
import { atLeast, recorded, timeMilliseconds, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

const leaves = 1_000_000;
const samples = 2_000;

export default async function merkleBenchmarks({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  const entries = Array.from({ length: leaves }, (_, index) => new TextEncoder().encode(`{"seq":${index},"action":"attempt.completed"}`));
  const merkle = MerkleLog.open();
  log(`  appending ${leaves.toLocaleString('en')} entries in memory`);
  const append = await timeMilliseconds(() => {
    for (const entry of entries) merkle.append(entry);
  });
  const size = merkle.size;
  const root = merkle.rootHash();
  const indexes = Array.from({ length: samples }, (_, sample) => Math.floor((sample * 7919 * 104729) % size));
  const consistencySizes = indexes.map((index) => index + 1);
  // Inputs a verifier is handed are read before the clock starts, so only verification is timed.
  const leafHashes = indexes.map((index) => merkle.leafHash(index));
  const pastRoots = consistencySizes.map((size1) => merkle.rootHash(size1));
  const proveAll = () => indexes.map((index) => merkle.inclusionProof(index, size));
  const proveConsistencyAll = () => consistencySizes.map((size1) => merkle.consistencyProof(size1, size));
  const verifyAll = (proofs: Uint8Array[][]) =>
    indexes.forEach((index, sample) => {
      if (!verifyInclusion(index, size, leafHashes[sample]!, proofs[sample]!, root)) throw new Error(`proof ${index} did not verify`);
    });
  const verifyConsistencyAll = (proofs: Uint8Array[][]) =>
    consistencySizes.forEach((size1, sample) => {
      if (!verifyConsistency(size1, size, proofs[sample]!, pastRoots[sample]!, root)) throw new Error(`consistency ${size1} did not verify`);
    });
  // One untimed pass first, so the timed pass measures optimised code, not the JIT warming up.
  let proofs = proveAll();
  let consistency = proveConsistencyAll();
  verifyAll(proofs);
  verifyConsistencyAll(consistency);
  const prove = await timeMilliseconds(() => (proofs = proveAll()));
  const verify = await timeMilliseconds(() => verifyAll(proofs));
  const proveConsistency = await timeMilliseconds(() => (consistency = proveConsistencyAll()));
  const verifyConsistencyTime = await timeMilliseconds(() => verifyConsistencyAll(consistency));
  return [
    atLeast('audit.append', Math.round(leaves / (append / 1000)), 'entries/s', 200_000),
    recorded('audit.inclusion-proof', Number(((prove * 1000) / samples).toFixed(1)), 'µs/proof'),
    recorded('audit.inclusion-verify', Number(((verify * 1000) / samples).toFixed(1)), 'µs/proof'),
    recorded('audit.inclusion-proof-size', proofs[0]!.length * 32, 'bytes'),
    recorded('audit.consistency-proof', Number(((proveConsistency * 1000) / samples).toFixed(1)), 'µs/proof'),
    recorded('audit.consistency-verify', Number(((verifyConsistencyTime * 1000) / samples).toFixed(1)), 'µs/proof'),
  ];
}
