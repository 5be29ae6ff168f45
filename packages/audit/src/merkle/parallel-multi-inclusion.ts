// MessageChannel is Node's global (the same class worker_threads exports): the dashboard's in-page
// verifier aliases node:worker_threads to a module of the calls it makes (apps/dashboard/src/browser-node).
import { receiveMessageOnPort, Worker, type MessagePort, type TransferListItem } from 'node:worker_threads';
import { CairnError } from '@cairn/protocol';
import { equalHashes } from './equal-hashes.ts';
import type { InclusionWorkerMessage, InclusionWorkerResponse } from './inclusion-worker-messages.ts';
import { hashLength, leafHashOfText } from './merkle-hash.ts';
import { subtreeRoot, type WalkCursor } from './subtree-root.ts';

/** Below this many leaves a second thread costs more than it saves. */
const parallelThreshold = 50_000;
/** Bytes per message to the worker: about 4,000 audit entries, so it starts hashing early and often. */
const bytesPerMessage = 1024 * 1024;
/** Leaves per message at most, whatever their size. */
const leavesPerMessage = 8_192;

/**
 * `verifyMultiInclusion` for leaves given as canonical JSON texts (audit entries). For large sets
 * the work is split by kind rather than by half of the tree: writing a leaf's text needs this
 * thread (the texts come from its objects) and is most of the cost, while hashing needs only the
 * bytes. So this thread writes each leaf's input (0x00 ‖ its UTF-8 text) into a buffer and hands
 * the buffer over (transferred: no copy, no string for the worker to re-encode); a worker hashes
 * each batch as it arrives and walks the multiproof as far as the leaves hashed allow. The
 * returned promise settles when the worker has walked it all; until then this thread is free
 * (`verifyBundle` runs its other checks meanwhile). The result is exactly that of the one-thread
 * walk.
 *
 * `leafIndexes` must be sorted and distinct and below `treeSize` (the caller checks). Texts must
 * be well-formed UTF-16 (a canonical JSON text is). Throws what `textOf` throws.
 */
export function verifyMultiInclusionOfTexts(
  treeSize: number,
  leafIndexes: ArrayLike<number>,
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
  // The worker hands each batch's buffers back once hashed, and new batches are written into
  // them: a quarter of a gigabyte of fresh pages for a million entries costs this thread more
  // page faults than writing the texts does.
  const returned = new MessageChannel();
  const buffers = new BufferPool(returned.port1);
  try {
    const packed = new Uint8Array(proof.length * hashLength);
    proof.forEach((hash, index) => packed.set(hash, index * hashLength));
    // A copy: it is transferred, and the caller's stays the caller's.
    const indexes = leafIndexes instanceof Float64Array ? leafIndexes.slice() : Float64Array.from(leafIndexes);
    worker.send({ kind: 'begin', treeSize, indexes, proof: packed, returnBuffers: returned.port2 }, [indexes.buffer, packed.buffer, returned.port2]);
    let batch = new LeafBatch(buffers, bytesPerMessage);
    for (let position = 0; position < leafIndexes.length; position++) {
      const text = textOf(position);
      if (!batch.fits(text)) {
        batch.sendTo(worker);
        batch = new LeafBatch(buffers, Math.max(bytesPerMessage, LeafBatch.mostBytesOf(text)));
      }
      batch.add(text);
    }
    batch.sendTo(worker);
    worker.send({ kind: 'end' });
  } catch (error) {
    returned.port1.close();
    // Stopped on purpose: its answer will never come, and nobody waits for it.
    worker.response.catch(() => undefined);
    void worker.stop();
    throw error;
  }
  worker.response.finally(() => returned.port1.close()).catch(() => undefined);
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
  send(message: InclusionWorkerMessage, transfer?: readonly TransferListItem[]): void;
  /** The worker's answer to `end`; the worker is stopped once it settles. */
  readonly response: Promise<InclusionWorkerResponse>;
  stop(): Promise<number>;
}

/** Buffers the worker has handed back, taken without waiting (the writing loop never yields). */
class BufferPool {
  private readonly port: MessagePort;
  constructor(port: MessagePort) {
    this.port = port;
  }

  /** A buffer of `size` bytes: one handed back if any is (a batch's are all `bytesPerMessage`), else a new one. */
  bytes(size: number): Buffer {
    if (size === bytesPerMessage) {
      const back = receiveMessageOnPort(this.port)?.message as ArrayBuffer | undefined;
      if (back !== undefined && back.byteLength === size) return Buffer.from(back);
    }
    // Never from Buffer's shared pool: the whole ArrayBuffer is transferred. Its unwritten tail
    // goes to this process's own worker, which reads only up to the last end.
    return Buffer.allocUnsafeSlow(size);
  }
}

/** Leaves' inputs written back to back into one buffer, to be handed to the worker whole. */
class LeafBatch {
  /** The most bytes a leaf of `text` takes: the 0x00, then at most 3 UTF-8 bytes per UTF-16 unit. */
  static mostBytesOf(text: string): number {
    return 1 + 3 * text.length;
  }

  private readonly bytes: Buffer;
  private readonly ends = new Uint32Array(leavesPerMessage);
  private used = 0;
  private count = 0;

  constructor(pool: BufferPool, size: number) {
    this.bytes = pool.bytes(size);
  }

  fits(text: string): boolean {
    return this.count < leavesPerMessage && this.used + LeafBatch.mostBytesOf(text) <= this.bytes.byteLength;
  }

  add(text: string): void {
    this.bytes[this.used++] = 0x00;
    // Buffer.write encodes straight into the buffer, much cheaper than TextEncoder.encodeInto per leaf.
    this.used += this.bytes.write(text, this.used, 'utf8');
    this.ends[this.count++] = this.used;
  }

  sendTo(worker: InclusionWorker): void {
    if (this.count === 0) return;
    const bytes = new Uint8Array(this.bytes.buffer, this.bytes.byteOffset, this.used);
    worker.send({ kind: 'leaves', bytes, ends: this.ends.subarray(0, this.count) }, [this.bytes.buffer as ArrayBuffer, this.ends.buffer]);
  }
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
