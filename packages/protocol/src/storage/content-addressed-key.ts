import type { Digest } from '@cairn/core';
import { CairnError } from '../errors/cairn-error.ts';
import { sha256Digest } from '../json/digest.ts';

// The two shapes this package gives content-addressed objects: `blobKey` and `manifestKey`.
const contentAddressedKey = /^(?:blobs\/([0-9a-f]{64})|manifests\/([0-9a-f]{64})\.json)$/;

/**
 * The digest a key names, when it is content-addressed: `blobs/<64 hex>` (`blobKey`) or
 * `manifests/<64 hex>.json` (`manifestKey`). Such an object's bytes must hash to that digest.
 */
export function digestNamedByKey(key: string): Digest | undefined {
  const match = contentAddressedKey.exec(key);
  if (match === null) return undefined;
  return `sha256:${match[1] ?? match[2]}`;
}

/**
 * Throws CAIRN_DIGEST_MISMATCH when `key` is content-addressed and `bytes` do not hash to the
 * digest it names: on `put` (a caller bug: it would never read back) and on `get` (the object was
 * altered in the store, and returning it would hand a wrong artifact to a verifier or a worker).
 * `provider` (`local`, `s3`) names the store in the message.
 */
export function assertContentMatchesKey(key: string, bytes: Uint8Array, where: string, provider: string): void {
  if (digestNamedByKey(key) !== undefined) assertDigestMatchesKey(key, sha256Digest(bytes), where, provider);
}

/** The same check for a digest computed elsewhere (a stream hashed chunk by chunk). */
export function assertDigestMatchesKey(key: string, actual: Digest, where: string, provider: string): void {
  const expected = digestNamedByKey(key);
  if (expected === undefined || actual === expected) return;
  throw new CairnError(
    'CAIRN_DIGEST_MISMATCH',
    `[cairn] [${provider}] ${where}: the bytes of content-addressed key "${key}" hash to ${actual}, not the ${expected} the key names. ` +
      'Content under this key was altered or corrupted: delete it and store it again from a trusted source.',
    { details: { key, expected, actual } },
  );
}
