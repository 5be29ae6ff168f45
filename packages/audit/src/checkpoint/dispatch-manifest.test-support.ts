// A plain dispatch manifest for tests of signing and bundles: one attempt of one command item.
import type { DispatchManifest } from '@cairn/core';
import { sha256Digest } from '@cairn/protocol';

export function manifestOf(runId: string, itemId: string, issuedAt = '2026-11-24T10:00:00.000Z'): DispatchManifest {
  return {
    version: 'cairn.manifest/v1',
    runId,
    itemId,
    attempt: 1,
    fencingToken: 1,
    executionId: `${runId}/${itemId}/1`,
    runtime: { kind: 'command', argv: ['node', 'edit.js'] },
    workspace: sha256Digest('workspace'),
    inputs: {},
    apply: [],
    env: {},
    secretNames: [],
    limits: { timeoutMs: 600_000, network: false, maxPatchBytes: 1_000_000, maxLogBytes: 100_000 },
    effect: 'read-impure',
    issuedAt,
  };
}
