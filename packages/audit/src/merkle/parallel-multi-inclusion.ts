import { Worker } from 'node:worker_threads';
import { equalHashes } from './equal-hashes.ts';
import type { InclusionWorkerRequest, InclusionWorkerResponse } from './inclusion-worker-messages.ts';
import { hashLength, leafHashOfText, nodeHash } from './merkle-hash.ts';
import { splitPoint } from './merkle-math.ts';
import { proofHashesTaken, subtreeRoot, type WalkCursor } from './subtree-root.ts';

/** Below this many leaves a second thread costs more than it saves. */
const parallelThreshold = 50_000;

/**
 * `verifyMultiInclusion` for leaves given as canonical JSON texts (audit entries), using a second
 * thread for large sets: the walk splits at the highest node whose two children both hold proven
 * leaves, a worker hashes the left half and computes its root while this thread does the right,
 * and the path above is folded in with the proof's outer hashes. The result is exactly that of
 * the one-thread walk; only the work is shared.
 *
 * `leafIndexes` must be sorted and distinct and below `treeSize` (the caller checks).
 */
export async function verifyMultiInclusionOfTexts(
  treeSize: number,
  leafIndexes: readonly number[],
  textOf: (position: number) => string,
  proof: readonly Uint8Array[],
  rootHash: Uint8Array,
): Promise<boolean> {
  if (leafIndexes.length === 0) return false;
  if (leafIndexes.length < parallelThreshold) {
    const cursor: WalkCursor = { leaf: 0, proof: 0, exhausted: false };
    const root = subtreeRoot(0, treeSize, leafIndexes, (position) => leafHashOfText(textOf(position)), proof, cursor);
    return !cursor.exhausted && cursor.proof === proof.length && equalHashes(root, rootHash);
  }
  // Descend from the root while all leaves sit on one side; the other side is a proof hash.
  const path: ('left-is-proof' | 'right-is-proof')[] = [];
  let start = 0;
  let size = treeSize;
  const first = leafIndexes[0]!;
  const last = leafIndexes.at(-1)!;
  while (size > 1) {
    const k = splitPoint(size);
    if (last < start + k) {
      path.push('right-is-proof');
      size = k;
    } else if (first >= start + k) {
      path.push('left-is-proof');
      start += k;
      size -= k;
    } else {
      break;
    }
  }
  if (size === 1) return false; // one leaf: below the threshold, never here
  // The walk emits left-side proof hashes (top down) first, then the split node's subtrees,
  // then right-side proof hashes (bottom up).
  const leftOuter = path.filter((side) => side === 'left-is-proof').length;
  const rightOuter = path.length - leftOuter;
  const k = splitPoint(size);
  const left = proofHashesTaken(start, k, leafIndexes, 0);
  if (leftOuter + left.proofHashes > proof.length) return false;
  const leftHashes = proof.slice(leftOuter, leftOuter + left.proofHashes);
  if (leftHashes.some((hash) => hash.byteLength !== hashLength)) return false;
  const leftProof = new Uint8Array(left.proofHashes * hashLength);
  leftHashes.forEach((hash, index) => leftProof.set(hash, index * hashLength));
  const leftRoot = runWorker({
    start,
    size: k,
    indexes: Float64Array.from(leafIndexes.slice(0, left.leaves)),
    ...leafBytes(textOf, left.leaves),
    proof: leftProof,
  });
  const cursor: WalkCursor = { leaf: left.leaves, proof: leftOuter + left.proofHashes, exhausted: false };
  const rightProof = proof.slice(0, proof.length - rightOuter);
  const rightRoot = subtreeRoot(start + k, size - k, leafIndexes, (position) => leafHashOfText(textOf(position)), rightProof, cursor);
  const worker = await leftRoot;
  if (
    worker.exhausted ||
    worker.proofHashesTaken !== left.proofHashes ||
    worker.leavesTaken !== left.leaves ||
    cursor.exhausted ||
    cursor.proof !== rightProof.length
  )
    return false;
  let root = nodeHash(worker.root, rightRoot);
  let nextLeftOuter = leftOuter - 1;
  let nextRightOuter = proof.length - rightOuter;
  for (let level = path.length - 1; level >= 0; level--) {
    root = path[level] === 'left-is-proof' ? nodeHash(proof[nextLeftOuter--]!, root) : nodeHash(root, proof[nextRightOuter++]!);
  }
  return equalHashes(root, rootHash);
}

/**
 * The first `count` leaves' hash inputs (0x00 ‖ UTF-8 text) in shared memory, so the worker reads
 * them without a copy and hashes each as one view.
 */
function leafBytes(textOf: (position: number) => string, count: number): { bytes: Uint8Array; offsets: Float64Array } {
  const texts = Array.from({ length: count }, (_, position) => textOf(position));
  const offsets = new Float64Array(count + 1);
  for (let position = 0; position < count; position++) offsets[position + 1] = offsets[position]! + 1 + Buffer.byteLength(texts[position]!);
  const bytes = new Uint8Array(new SharedArrayBuffer(offsets[count]!));
  texts.forEach((text, position) => encoder.encodeInto(text, bytes.subarray(offsets[position]! + 1, offsets[position + 1]!)));
  return { bytes, offsets };
}

const encoder = new TextEncoder();

function runWorker(request: InclusionWorkerRequest): Promise<InclusionWorkerResponse> {
  // The source build runs the .ts file (Node strips types); the package build ships the .js.
  const file = import.meta.url.endsWith('.ts') ? './inclusion-worker.ts' : './inclusion-worker.js';
  const worker = new Worker(new URL(file, import.meta.url));
  return new Promise<InclusionWorkerResponse>((resolve, reject) => {
    worker.once('message', (response: InclusionWorkerResponse) => resolve({ ...response, root: new Uint8Array(response.root) }));
    worker.once('error', reject);
    worker.postMessage(request, [request.indexes.buffer as ArrayBuffer, request.proof.buffer as ArrayBuffer, request.offsets.buffer as ArrayBuffer]);
  }).finally(() => void worker.terminate());
}
