import type { AuditEntry, DispatchManifest, ModelCallData } from '@cairn/core';
import type { Digest } from '@cairn/core';
import { CairnError, dispatchManifestSchema, parsePayload, sha256Digest, storedManifestSchema } from '@cairn/protocol';
import { decodeBase64Strict } from '../dsse/base64.ts';
import { auditEntryBytes } from '../entries/audit-entry-leaf.ts';
import { completedArtifacts, dispatchedManifest, modelCallData, submittedSpecDigest } from '../entries/entry-data.ts';
import { storedManifestPayload } from '../checkpoint/manifest-batch.ts';
import {
  cairnItemAttemptBuildType,
  inTotoStatementType,
  provenanceStatementSchema,
  slsaProvenancePredicateType,
  type ProvenanceDependency,
  type ProvenanceModelCall,
  type ProvenanceStatement,
} from './provenance-statement.ts';

/** The attempt that made an item's patch, as the run's audit entries record it. */
export interface PatchAttempt {
  readonly runId: string;
  readonly itemId: string;
  readonly attempt: number;
  readonly specDigest: Digest;
  readonly patchDigest: Digest;
  /** The digest of the attempt's stored dispatch manifest (its `attempt.dispatched` entry's). */
  readonly manifestDigest: Digest;
  readonly dispatchedAt: string;
  readonly completedAt: string;
  /** The attempt's `model.called` entries, in log order. */
  readonly modelCalls: readonly AuditEntry[];
}

/** Who built it: the server, named by its audit log's origin, and the Cairn version it runs. */
export interface ProvenanceBuilder {
  readonly id: string;
  readonly version: string;
}

/**
 * Finds, in a run's audit entries (log order), the last attempt of `itemId` that succeeded with a
 * patch, and what it was dispatched with. With `patchDigest`, that attempt's patch must be it.
 * Throws CAIRN_NOT_FOUND when no attempt of the item made a patch (it changed nothing, has not
 * succeeded, or the entries are not the run's), naming the item.
 */
export function findPatchAttempt(entries: readonly AuditEntry[], itemId: string, patchDigest?: Digest): PatchAttempt {
  const runId = entries[0]?.runId;
  const specDigest = entries.map(submittedSpecDigest).find((digest) => digest !== undefined);
  let made: { attempt: number; patch: Digest; entry: AuditEntry } | undefined;
  for (const entry of entries) {
    const completed = entry.outcome === 'success' ? completedArtifacts(entry) : undefined;
    const patch = completed?.artifacts.find((artifact) => artifact.kind === 'patch')?.digest;
    if (completed?.itemId === itemId && patch !== undefined) made = { attempt: completed.attempt, patch, entry };
  }
  if (runId === undefined || specDigest === undefined || made === undefined) {
    throw new CairnError('CAIRN_NOT_FOUND', `No attempt of item ${itemId} made a patch: it changed nothing, or it has not succeeded yet.`, { path: 'itemId' });
  }
  if (patchDigest !== undefined && made.patch !== patchDigest) {
    throw new CairnError('CAIRN_NOT_FOUND', `Item ${itemId}'s patch is ${patchDigest}, but its last successful attempt (${made.attempt}) made ${made.patch}.`, {
      path: 'itemId',
    });
  }
  const attempt = made.attempt;
  const ofAttempt = (found: { itemId: string; attempt: number } | undefined) => found?.itemId === itemId && found.attempt === attempt;
  const dispatched = entries.find((entry) => ofAttempt(dispatchedManifest(entry)));
  if (dispatched === undefined) {
    throw new CairnError('CAIRN_NOT_FOUND', `Attempt ${attempt} of item ${itemId} has no attempt.dispatched entry among the run's entries.`, {
      path: 'itemId',
    });
  }
  return {
    runId,
    itemId,
    attempt,
    specDigest,
    patchDigest: made.patch,
    manifestDigest: dispatchedManifest(dispatched)!.manifestDigest,
    dispatchedAt: dispatched.time,
    completedAt: made.entry.time,
    modelCalls: entries.filter((entry) => ofAttempt(modelCallData(entry))),
  };
}

/**
 * The provenance of a patch: an in-toto Statement v1 whose subject is the patch and whose
 * predicate is SLSA Provenance v1 (docs/audit/provenance.md). `manifest` is the attempt's stored
 * dispatch manifest, its exact bytes: they must hash to the digest the log names (else
 * CAIRN_DIGEST_MISMATCH), and the manifest must be the attempt's. Deterministic: the same entries
 * and manifest give the same statement.
 */
export function patchProvenanceStatement(attempt: PatchAttempt, manifest: Uint8Array, builder: ProvenanceBuilder): ProvenanceStatement {
  const dispatched = readManifest(attempt, manifest);
  const inputs = Object.entries(dispatched.inputs)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, input]): ProvenanceDependency => ({
      name: `input/${name}`,
      digest: { sha256: hexOf(input.digest) },
      annotations: { from: input.from, select: input.select, applied: dispatched.apply.includes(name) },
    }));
  const statement: ProvenanceStatement = {
    _type: inTotoStatementType,
    subject: [{ name: `${attempt.itemId}.patch`, digest: { sha256: hexOf(attempt.patchDigest) } }],
    predicateType: slsaProvenancePredicateType,
    predicate: {
      buildDefinition: {
        buildType: cairnItemAttemptBuildType,
        externalParameters: { runId: attempt.runId, itemId: attempt.itemId, specDigest: attempt.specDigest },
        internalParameters: { attempt: attempt.attempt },
        resolvedDependencies: [
          { name: 'workspace', digest: { sha256: hexOf(dispatched.workspace) } },
          { name: 'dispatch-manifest', digest: { sha256: hexOf(attempt.manifestDigest) }, mediaType: 'application/json' },
          ...inputs,
        ],
      },
      runDetails: {
        builder: { id: builder.id, version: { cairn: builder.version } },
        metadata: { invocationId: dispatched.executionId, startedOn: attempt.dispatchedAt, finishedOn: attempt.completedAt },
        byproducts: attempt.modelCalls.map(modelCallByproduct),
      },
    },
  };
  return parsePayload(provenanceStatementSchema, statement, 'provenance statement');
}

/** A model call as a byproduct: its audit entry by the digest of its canonical JSON, and what it metered. */
function modelCallByproduct(entry: AuditEntry): ProvenanceModelCall {
  const data = modelCallData(entry) as ModelCallData;
  const { provider, model, inputTokens, outputTokens, cacheReadTokens, cacheWriteTokens, costUsd } = data;
  const metered = { inputTokens, outputTokens, cacheReadTokens, cacheWriteTokens, costUsd };
  return {
    name: `model-call/${entry.seq}`,
    digest: { sha256: hexOf(sha256Digest(auditEntryBytes(entry))) },
    mediaType: 'application/json',
    annotations: {
      seq: entry.seq,
      provider,
      model,
      outcome: entry.outcome,
      ...Object.fromEntries(Object.entries(metered).filter(([, value]) => value !== undefined)),
    },
  };
}

function readManifest(attempt: PatchAttempt, bytes: Uint8Array): DispatchManifest {
  const actual = sha256Digest(bytes);
  if (actual !== attempt.manifestDigest) {
    throw new CairnError(
      'CAIRN_DIGEST_MISMATCH',
      `The dispatch manifest of attempt ${attempt.attempt} of item ${attempt.itemId} hashes to ${actual}, not ${attempt.manifestDigest} as its attempt.dispatched entry says.`,
      { path: 'manifest' },
    );
  }
  // Its bytes are the ones the log names, whose signature the worker checked before it ran: read as they are.
  const stored = parsePayload(storedManifestSchema, JSON.parse(new TextDecoder().decode(bytes)), 'stored dispatch manifest');
  const payload = decodeBase64Strict(storedManifestPayload(stored));
  if (payload === undefined) throw new CairnError('CAIRN_PAYLOAD_INVALID', 'The stored dispatch manifest is not canonical base64.', { path: 'manifest' });
  const manifest = parsePayload(dispatchManifestSchema, JSON.parse(new TextDecoder().decode(payload)), 'dispatch manifest');
  if (manifest.runId !== attempt.runId || manifest.itemId !== attempt.itemId || manifest.attempt !== attempt.attempt) {
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `The dispatch manifest ${attempt.manifestDigest} is for ${manifest.runId}/${manifest.itemId} attempt ${manifest.attempt}, not ${attempt.runId}/${attempt.itemId} attempt ${attempt.attempt}.`,
      { path: 'manifest' },
    );
  }
  return manifest as DispatchManifest;
}

function hexOf(digest: Digest | string): string {
  return digest.slice('sha256:'.length);
}
