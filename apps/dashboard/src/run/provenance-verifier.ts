// @cairn/audit's provenance verifier (the one `cairn verify provenance` runs) and a SHA-256, built
// for the browser: loaded by the delivery panel on demand, in its own chunk as the evidence
// verifier is. The two modules below act as they load and must run before the verifier's.
import '../browser-node/buffer-global.ts';
import './zod-without-jit.ts';
import { sha256 } from '@noble/hashes/sha2.js';

export { verifyProvenance } from '@cairn/audit';

/** `sha256:<hex>` of `bytes`, as Cairn names a stored blob. */
export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${Array.from(sha256(bytes), (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}
