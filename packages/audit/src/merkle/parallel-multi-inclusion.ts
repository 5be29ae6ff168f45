import { Worker } from 'node:worker_threads';
import { CairnError } from '@cairn/protocol';
import { equalHashes } from './equal-hashes.ts';
import type { InclusionWorkerMessage, InclusionWorkerResponse } from './inclusion-worker-messages.ts';
import { hashLength, leafHashOfText } from './merkle-hash.ts';
import { subtreeRoot, type WalkCursor } from './subtree-root.ts';

/** Below this many leaves a second thread costs more than it saves. */
const parallelThreshold = 50_000;
/** Leaves per message to the worker: about 2 MB of text, so it starts hashing early and often. */
const leavesPerMessage = 8_192;

/**
 * `verifyMultiInclusion` for leaves given as canonical JSON texts (audit entries). For large sets
 * the work is split by kind rather than by half of the tree: writing a leaf's text needs this
 * thread (the texts come from its objects) and is most of the cost, while hashing needs only the
 * text. So this thread writes the texts and sends them in batches; a worker hashes each batch as
 * it arrives, and once it has them all walks the multiproof. The returned promise settles when
 * the worker has walked it; until then this thread is free (`verifyBundle` runs its other checks
 * meanwhile). The result is exactly that of the one-thread walk.
 *
 * `leafIndexes` must be sorted and distinct and below `treeSize` (the caller checks). Throws what
 * `textOf` throws.
 */
export function verifyMultiInclusionOfTexts(
  treeSize: number,
  leafIndexes: readonly number[],
  textOf: (position: number) => string,
  proof: readonly Uint8Array[],
  rootHash: Uint8Array,
): Promise<boolean> {
  if (leafIndexes.length === 0) return Promise.resolve(false);
  if (leafIndexes.length < parallelThreshold) {
    const cursor: WalkCursor = { leaf: 0, proof: 0, exhausted: false };
    const root = subtreeRoot(0, treeSize, leafIndexes, (position) => leafHashOfText(textOf(position)), proof, cursor);
    return Promise.resolve(!cursor.exhausted && cursor.proof === proof.length && equalHashes(root, rootHash));
  }
  // The worker takes the proof as 32-byte hashes back to back: a hash of another length is no
  // RFC 6962 hash, and no proof holding one verifies.
  if (proof.some((hash) => hash.byteLength !== hashLength)) return Promise.resolve(false);
  const worker = startWorker();
  try {
    const packed = new Uint8Array(proof.length * hashLength);
    proof.forEach((hash, index) => packed.set(hash, index * hashLength));
    const indexes = Float64Array.from(leafIndexes);
    worker.send({ kind: 'begin', treeSize, indexes, proof: packed }, [indexes.buffer, packed.buffer]);
    for (let first = 0; first < leafIndexes.length; first += leavesPerMessage) {
      const count = Math.min(leavesPerMessage, leafIndexes.length - first);
      // Appended rather than joined from an array: V8 flattens the rope once, as it is sent.
      let texts = '';
      const lengths = new Uint32Array(count);
      for (let position = 0; position < count; position++) {
        const text = textOf(first + position);
        texts += text;
        lengths[position] = text.length;
      }
      worker.send({ kind: 'leaves', texts, lengths }, [lengths.buffer]);
    }
    worker.send({ kind: 'end' });
  } catch (error) {
    // Stopped on purpose: its answer will never come, and nobody waits for it.
    worker.response.catch(() => undefined);
    void worker.stop();
    throw error;
  }
  return worker.response.then(
    (response) =>
      !response.exhausted &&
      response.leavesHashed === leafIndexes.length &&
      response.leavesTaken === leafIndexes.length &&
      response.proofHashesTaken === proof.length &&
      equalHashes(response.root, rootHash),
  );
}

interface InclusionWorker {
  send(message: InclusionWorkerMessage, transfer?: ArrayBuffer[]): void;
  /** The worker's answer to `end`; the worker is stopped once it settles. */
  readonly response: Promise<InclusionWorkerResponse>;
  stop(): Promise<number>;
}

function startWorker(): InclusionWorker {
  // The source build runs the .ts file (Node strips types); the package build ships the .js.
  const file = import.meta.url.endsWith('.ts') ? './inclusion-worker.ts' : './inclusion-worker.js';
  const worker = new Worker(new URL(file, import.meta.url));
  const response = new Promise<InclusionWorkerResponse>((resolve, reject) => {
    worker.once('message', (answer: InclusionWorkerResponse) => resolve({ ...answer, root: new Uint8Array(answer.root) }));
    worker.once('error', (error) => reject(workerFailed(`failed: ${error.message}`, error)));
    worker.once('exit', (code) => reject(workerFailed(`exited with code ${code} before it answered`)));
  }).finally(() => void worker.terminate());
  return { send: (message, transfer) => worker.postMessage(message, transfer), response, stop: () => worker.terminate() };
}

function workerFailed(what: string, cause?: Error): CairnError {
  return new CairnError(
    'CAIRN_INTERNAL',
    `[cairn] [audit] the thread hashing the bundle's entries for the inclusion check ${what}; verify again, and if it persists, report it with the Node.js version.`,
    cause === undefined ? {} : { cause },
  );
}
