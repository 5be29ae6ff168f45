/**
 * A content digest: `sha256:` followed by 64 lowercase hex characters. Artifacts (patches, logs,
 * outputs, manifests, workspace snapshots) are stored and referenced by their digest, so equal
 * bytes have one name and a reference proves what it points at.
 */
export type Digest = `sha256:${string}`;
