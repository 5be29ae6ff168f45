// Worker thread of `verifyMultiInclusionOfTexts`: hashes one half of the proven leaves (from
// shared memory) and computes the root of that half of the tree. Built as its own file
// (dist/inclusion-worker.js); only relative imports, so Node runs the source file directly too.
import { parentPort } from 'node:worker_threads';
import type { InclusionWorkerRequest, InclusionWorkerResponse } from './inclusion-worker-messages.ts';
import { sha256 } from './merkle-hash.ts';
import { subtreeRoot, type WalkCursor } from './subtree-root.ts';

parentPort!.on('message', (request: InclusionWorkerRequest) => {
  const { bytes, offsets } = request;
  const proof = Array.from({ length: request.proof.byteLength / 32 }, (_, index) => request.proof.subarray(index * 32, (index + 1) * 32));
  const cursor: WalkCursor = { leaf: 0, proof: 0, exhausted: false };
  const root = subtreeRoot(
    request.start,
    request.size,
    request.indexes,
    (position) => sha256(bytes.subarray(offsets[position]!, offsets[position + 1]!)),
    proof,
    cursor,
  );
  const response: InclusionWorkerResponse = { root, proofHashesTaken: cursor.proof, exhausted: cursor.exhausted, leavesTaken: cursor.leaf };
  parentPort!.postMessage(response);
});
