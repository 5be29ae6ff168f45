// Worker thread of `verifyMultiInclusionOfTexts`: hashes the proven leaves as their texts arrive,
// then walks the whole multiproof. Built as its own file (dist/inclusion-worker.js); only
// relative imports, so Node runs the source file directly too.
import { hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import type { InclusionWorkerBegin, InclusionWorkerMessage, InclusionWorkerResponse } from './inclusion-worker-messages.ts';
import { hashLength } from './merkle-hash.ts';
import { subtreeRoot, type WalkCursor } from './subtree-root.ts';

let begun: InclusionWorkerBegin | undefined;
// Every leaf hash in one buffer: a million small arrays would cost more to allocate and collect.
let leafHashes = new Uint8Array(0);
let hashed = 0;

parentPort!.on('message', (message: InclusionWorkerMessage) => {
  if (message.kind === 'begin') {
    begun = message;
    leafHashes = new Uint8Array(message.indexes.length * hashLength);
    hashed = 0;
  } else if (message.kind === 'leaves') {
    hashLeaves(message.texts, message.lengths);
  } else {
    parentPort!.postMessage(walk(begun!));
  }
});

function hashLeaves(texts: string, lengths: Uint32Array): void {
  let offset = 0;
  for (let position = 0; position < lengths.length && hashed < leafHashes.length / hashLength; position++) {
    const end = offset + lengths[position]!;
    // RFC 6962 leaf: SHA-256(0x00 ‖ UTF-8 text); the hash reads the string as UTF-8 and U+0000 is
    // the byte 0x00. The digest as a latin1 string copied out is cheaper than a Buffer per leaf.
    const digest = hash('sha256', `\u0000${texts.slice(offset, end)}`, 'binary');
    const at = hashed * hashLength;
    for (let index = 0; index < hashLength; index++) leafHashes[at + index] = digest.charCodeAt(index);
    hashed++;
    offset = end;
  }
}

function walk({ treeSize, indexes, proof }: InclusionWorkerBegin): InclusionWorkerResponse {
  const proofHashes = Array.from({ length: proof.byteLength / hashLength }, (_, index) => proof.subarray(index * hashLength, (index + 1) * hashLength));
  const cursor: WalkCursor = { leaf: 0, proof: 0, exhausted: false };
  const root =
    hashed < indexes.length
      ? new Uint8Array(hashLength)
      : subtreeRoot(0, treeSize, indexes, (position) => leafHashes.subarray(position * hashLength, (position + 1) * hashLength), proofHashes, cursor);
  return { root, proofHashesTaken: cursor.proof, leavesTaken: cursor.leaf, leavesHashed: hashed, exhausted: cursor.exhausted };
}
