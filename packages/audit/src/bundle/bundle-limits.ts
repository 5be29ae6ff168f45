import { CairnError } from '@cairn/protocol';

/**
 * What a verifier reads of a bundle before it refuses it. A bundle comes from anyone: without
 * these, `/dev/zero` or 130 MB holding ten million keys in one object take gigabytes and minutes
 * before any check runs. With them, parsing builds at most a small multiple of the file's size
 * (every object and array JSON.parse builds costs tens of bytes) and a refusal comes within a
 * pass over the bytes. One set, read by `verifyBundle`, `readBundleFile`, `cairn verify` and the
 * server's evidence code; each refusal names the limit it hit.
 */
export interface BundleLimits {
  /**
   * Bytes of the bundle file. Cairn writes a bundle as one string, which Node caps at 2^29 - 24
   * characters, and a bundle is ASCII but for text in the spec and entries: 512 MiB is above
   * every bundle it writes (a run of 100,000 items with one attempt each is about 260 MB).
   */
  readonly maxBundleBytes: number;
  /** Nesting of objects and arrays: a run spec nests at most 32 levels, a bundle adds three. */
  readonly maxDepth: number;
  /** Keys of one object: the widest in a bundle Cairn writes is a spec map (at most 256). */
  readonly maxKeysPerObject: number;
  /** Bytes of one string as written: the longest Cairn writes is a manifest envelope's base64 payload. */
  readonly maxStringBytes: number;
  /**
   * Bytes of bundle per object or array, on average (the first 1,024 are free): a bundle Cairn
   * writes spends over 100 bytes on each, `{}` three, and JSON.parse builds each as about 40 to 60
   * bytes. This is what keeps the parse within a small multiple of the file's size.
   */
  readonly minBytesPerContainer: number;
}

export const bundleLimits: BundleLimits = {
  maxBundleBytes: 512 * 1024 * 1024,
  maxDepth: 64,
  maxKeysPerObject: 1_024,
  maxStringBytes: 64 * 1024 * 1024,
  minBytesPerContainer: 32,
};

/** The objects and arrays a bundle of any size may hold before `minBytesPerContainer` applies. */
export const freeContainers = 1_024;

/** `bundleLimits` with the caller's overrides. Throws CAIRN_CONFIG_INVALID for one that is not a positive whole number. */
export function resolveBundleLimits(overrides: Partial<BundleLimits> = {}): BundleLimits {
  const limits = { ...bundleLimits, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1)
      throw new CairnError('CAIRN_CONFIG_INVALID', `[cairn] [audit] invalid setting "limits.${name}": must be a positive whole number, not ${String(value)}.`, {
        path: `limits.${name}`,
      });
  }
  return limits;
}
