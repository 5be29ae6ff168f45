/**
 * Where Cairn keeps things in a storage provider, shared by the engine, the workers and the
 * surfaces that read them back. Content-addressed blobs (workspace snapshots, patches, logs,
 * outputs) live under their SHA-256 hex, so a reader can check what it got.
 */

/** A signed dispatch manifest (DSSE envelope), by the digest of its canonical JSON. */
export const manifestKey = (digest: string): string => `manifests/${hexOf(digest)}.json`;

/** The result record a worker writes for one attempt. */
export const resultKey = (executionId: string): string => `results/${executionId}.json`;

/** A content-addressed blob. */
export const blobKey = (digest: string): string => `blobs/${hexOf(digest)}`;

function hexOf(digest: string): string {
  return digest.startsWith('sha256:') ? digest.slice('sha256:'.length) : digest;
}
