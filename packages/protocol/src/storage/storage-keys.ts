/**
 * Where Cairn keeps things in a storage provider, shared by the engine, the workers and the
 * surfaces that read them back. Content-addressed blobs (workspace snapshots, patches, logs,
 * outputs) live under their SHA-256 hex, so a reader can check what it got.
 */

/** A signed dispatch manifest (DSSE envelope), by the digest of its canonical JSON. */
export const manifestKey = (digest: string): string => `manifests/${hexOf(digest)}.json`;

/**
 * The delegation statement (DSSE envelope) of a delegated key, by the key's id. Written once by
 * the engine that made the key; a reader trusts it only for its signature, never for where it is.
 */
export const delegationKey = (keyId: string): string => `delegations/${hexOf(keyId)}.json`;

/** The result record a worker writes for one attempt. */
export const resultKey = (executionId: string): string => `results/${executionId}.json`;

/** A content-addressed blob. */
export const blobKey = (digest: string): string => `blobs/${hexOf(digest)}`;

function hexOf(digest: string): string {
  return digest.startsWith('sha256:') ? digest.slice('sha256:'.length) : digest;
}

/**
 * Size of every live log segment but a stream's last: segment `index` holds the stream's bytes
 * from `index * liveLogSegmentBytes`, so a reader finds any offset without listing, and the worker
 * rewrites at most one segment per flush.
 */
export const liveLogSegmentBytes = 65_536;

/** The progress of a running attempt's live log (`LiveLogState`). */
export const liveLogStateKey = (executionId: string): string => `live-logs/${executionId}/state.json`;

/** One segment of a running attempt's live log of `stream`. */
export const liveLogSegmentKey = (executionId: string, stream: 'stdout' | 'stderr', index: number): string =>
  `live-logs/${executionId}/${stream}/${String(index).padStart(6, '0')}`;
