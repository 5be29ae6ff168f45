import type { AuditEntry, BundleArtifactKind, Digest } from '@cairn/core';
import { isDigest } from '@cairn/protocol';

/**
 * What the `data` of the entries a bundle relies on holds. The engine writes them; the bundle
 * builder and verifier read them through these functions, which return undefined for anything
 * that does not have the documented shape (docs/audit/formats.md).
 */

/** `run.submitted`: `{ specDigest }`. */
export function submittedSpecDigest(entry: AuditEntry): Digest | undefined {
  const value = entry.data['specDigest'];
  return entry.action === 'run.submitted' && isDigest(value) ? value : undefined;
}

/** `attempt.dispatched`: `{ itemId, attempt, manifestDigest }`. */
export function dispatchedManifest(entry: AuditEntry): { itemId: string; attempt: number; manifestDigest: Digest } | undefined {
  if (entry.action !== 'attempt.dispatched') return undefined;
  const { itemId, attempt, manifestDigest } = entry.data;
  if (typeof itemId !== 'string' || !Number.isSafeInteger(attempt) || !isDigest(manifestDigest)) return undefined;
  return { itemId, attempt: attempt as number, manifestDigest };
}

/** `attempt.completed`: `{ itemId, attempt, outcome, artifacts: { patch?, stdout, stderr, output? } }`. */
export function completedArtifacts(
  entry: AuditEntry,
): { itemId: string; attempt: number; artifacts: { kind: BundleArtifactKind; digest: Digest }[] } | undefined {
  if (entry.action !== 'attempt.completed') return undefined;
  const { itemId, attempt, artifacts } = entry.data;
  if (typeof itemId !== 'string' || !Number.isSafeInteger(attempt) || typeof artifacts !== 'object' || artifacts === null || Array.isArray(artifacts))
    return undefined;
  const listed: { kind: BundleArtifactKind; digest: Digest }[] = [];
  for (const kind of ['patch', 'stdout', 'stderr', 'output'] as const) {
    const digest = artifacts[kind];
    if (isDigest(digest)) listed.push({ kind, digest });
  }
  return { itemId, attempt: attempt as number, artifacts: listed };
}

/** Whether an entry ends its run. */
export function isTerminalRunEntry(entry: AuditEntry): boolean {
  return entry.action === 'run.succeeded' || entry.action === 'run.failed' || entry.action === 'run.cancelled';
}
