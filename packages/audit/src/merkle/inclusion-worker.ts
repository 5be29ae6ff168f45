// Worker thread of `verifyMultiInclusionOfTexts`: hashes the proven leaves as their bytes arrive
// and walks the multiproof as far as the leaves hashed so far allow, so that once the last batch
// is in only its own leaves and the nodes above them are left. Built as its own file
// (dist/inclusion-worker.js); only relative imports, so Node runs the source file directly too.
import { hash } from 'node:crypto';
import { parentPort, type MessagePort } from 'node:worker_threads';
import type { InclusionWorkerMessage, InclusionWorkerResponse } from './inclusion-worker-messages.ts';
import { hashLength } from './merkle-hash.ts';
import { ResumableMultiproofWalk } from './resumable-multiproof-walk.ts';

let walk: ResumableMultiproofWalk | undefined;
let leafCount = 0;
// Every leaf hash in one buffer: a million small arrays would cost more to allocate and collect.
let leafHashes = new Uint8Array(0);
let hashed = 0;
let returnBuffers: MessagePort | undefined;

parentPort!.on('message', (message: InclusionWorkerMessage) => {
  if (message.kind === 'begin') {
    leafCount = message.indexes.length;
    leafHashes = new Uint8Array(leafCount * hashLength);
    hashed = 0;
    walk = new ResumableMultiproofWalk(message.treeSize, message.indexes, leafHashes, message.proof);
    returnBuffers = message.returnBuffers;
  } else if (message.kind === 'leaves') {
    hashLeaves(message.bytes, message.ends);
    const buffer = message.bytes.buffer as ArrayBuffer;
    returnBuffers!.postMessage(buffer, [buffer]);
    walk!.advance(hashed);
  } else {
    returnBuffers!.close();
    parentPort!.postMessage(answer(walk!));
  }
});

function hashLeaves(bytes: Uint8Array, ends: Uint32Array): void {
  let start = 0;
  for (let position = 0; position < ends.length && hashed < leafCount; position++) {
    const end = ends[position]!;
    // The bytes already are the RFC 6962 leaf input, 0x00 ‖ the text; the digest as a latin1
    // string copied out is cheaper than a Buffer per leaf.
    const digest = hash('sha256', bytes.subarray(start, end), 'binary');
    const at = hashed * hashLength;
    for (let index = 0; index < hashLength; index++) leafHashes[at + index] = digest.charCodeAt(index);
    hashed++;
    start = end;
  }
}

function answer(done: ResumableMultiproofWalk): InclusionWorkerResponse {
  // A walk that waits on a leaf never sent has no root: all zeros, which no check accepts.
  return {
    root: done.root ?? new Uint8Array(hashLength),
    proofHashesTaken: done.proofHashesTaken,
    leavesTaken: done.leavesTaken,
    leavesHashed: hashed,
    exhausted: done.exhausted,
  };
}
