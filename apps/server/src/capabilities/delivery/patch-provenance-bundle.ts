import type { AuditEntry, Digest, SignerV1, StorageProviderV1 } from '@cairn/core';
import { findPatchAttempt, patchProvenanceStatement, serializeProvenanceBundle, signProvenance } from '@cairn/audit';
import type { EngineService } from '@cairn/engine';
import { blobKey, CairnError, manifestKey, sha256Digest } from '@cairn/protocol';
import { VERSION } from '../../version.ts';

/** A patch's signed provenance as stored: the Sigstore bundle's bytes and their digest (`blobs/<digest>`). */
export interface StoredProvenance {
  readonly bytes: Uint8Array;
  readonly digest: Digest;
}

/**
 * Builds, signs and stores the provenance of an item's patch (ADR 0036), as
 * `GET /v1/runs/{runId}/items/{itemId}/provenance` serves it: from the run's audit entries and the
 * attempt's stored dispatch manifest, signed by the server's signer, stored as a blob by its
 * digest. With an Ed25519 key the bytes are the same each time, so a delivery that is retried
 * names the same evidence.
 */
export async function storePatchProvenance(
  {
    service,
    storage,
    signer,
    origin,
  }: { readonly service: EngineService; readonly storage: StorageProviderV1; readonly signer: SignerV1; readonly origin: string },
  runId: string,
  itemId: string,
  patchDigest: Digest,
): Promise<StoredProvenance> {
  const entries: AuditEntry[] = [];
  for await (const entry of service.auditEntries({ runId })) entries.push(entry);
  const attempt = findPatchAttempt(entries, itemId, patchDigest);
  const manifest = await storage.get(manifestKey(attempt.manifestDigest));
  if (manifest === null)
    throw new CairnError('CAIRN_NOT_FOUND', `The dispatch manifest ${attempt.manifestDigest} of item ${itemId} of run ${runId} is not in storage.`, {
      path: 'itemId',
    });
  const statement = patchProvenanceStatement(attempt, manifest, { id: origin, version: VERSION });
  const bytes = serializeProvenanceBundle(await signProvenance(statement, signer));
  const digest = sha256Digest(bytes);
  await storage.put(blobKey(digest), bytes, { ifAbsent: true, contentType: 'application/json' });
  return { bytes, digest };
}
