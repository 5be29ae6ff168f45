import { sign, type KeyObject } from 'node:crypto';

/** How a key signs: its node:crypto algorithm (null for Ed25519) and, for ECDSA, the signature's encoding. */
export interface KeySigningOptions {
  readonly algorithm: string | null;
  readonly dsaEncoding?: 'der' | 'ieee-p1363';
}

interface Waiting {
  readonly message: Uint8Array;
  resolve(signature: Uint8Array): void;
  reject(error: unknown): void;
}

/**
 * Signs with a private key held in this process, on libuv's thread pool when several signatures
 * are asked for together, and on the calling thread when one is.
 *
 * A dispatch pass signs the manifests of up to its concurrency of items at once, all in the same
 * turn of the event loop; on the thread pool they run beside the engine's own work on the main
 * thread (measured: a 10,000-item fan-out 13–20 % faster). A chain hop signs one manifest and
 * waits for it: there, handing it to another thread only adds the hand-off (about 0.1 ms a hop,
 * measured), so a signature asked for alone is made at once. The calls that reach `sign` before
 * the microtask queue drains count as together.
 */
export function batchedKeySigning(key: KeyObject, options: KeySigningOptions): (message: Uint8Array) => Promise<Uint8Array> {
  const signOptions = options.dsaEncoding === undefined ? key : { key, dsaEncoding: options.dsaEncoding };
  let waiting: Waiting[] = [];
  const flush = () => {
    const batch = waiting;
    waiting = [];
    if (batch.length === 1) {
      const [only] = batch as [Waiting];
      try {
        only.resolve(new Uint8Array(sign(options.algorithm, only.message, signOptions)));
      } catch (error) {
        only.reject(error);
      }
      return;
    }
    for (const entry of batch) {
      try {
        sign(options.algorithm, entry.message, signOptions, (error, signature) => (error ? entry.reject(error) : entry.resolve(new Uint8Array(signature))));
      } catch (error) {
        // A message node:crypto refuses before starting (not bytes) fails that signature alone.
        entry.reject(error);
      }
    }
  };
  return (message) =>
    new Promise((resolve, reject) => {
      if (waiting.push({ message, resolve, reject }) === 1) queueMicrotask(flush);
    });
}
