import type { Digest, DsseEnvelope, EvidenceBundleV1, JsonValue, SignerV1, StorageProviderV1, StoredManifest } from '@cairn/core';
import { buildEvidenceBundle, storedManifestEnvelope } from '@cairn/audit';
import { blobKey, CairnError, delegationKey, dsseEnvelopeSchema, manifestKey, parsePayload } from '@cairn/protocol';
import type { RunStateMachine } from '../state/run-state-machine.ts';
import type { AuditLog } from './audit-log.ts';
import type { Checkpointer } from './checkpointer.ts';
import { receiptTimestampToken } from './receipt-timestamp-token.ts';
import type { SigningKeyRecords } from '../store/sqlite/signing-key-records.ts';

export interface EvidenceExporterSettings {
  readonly audit: AuditLog;
  /** Where the runs' specs are read. */
  readonly machine: RunStateMachine;
  readonly checkpointer: Checkpointer;
  readonly signingKeys: SigningKeyRecords;
  /** Where manifests and delegation statements are stored. */
  readonly storage: StorageProviderV1;
  /** The signers whose keys the bundle lists: the engine's, then its previous one while it rotates from it. */
  readonly signers: readonly SignerV1[];
}

/** Makes a run's evidence bundle from what the engine recorded: its entries, proofs, checkpoint, manifests and keys. */
export class EvidenceExporter {
  readonly #audit: AuditLog;
  readonly #machine: RunStateMachine;
  readonly #checkpointer: Checkpointer;
  readonly #signingKeys: SigningKeyRecords;
  readonly #storage: StorageProviderV1;
  readonly #signers: readonly SignerV1[];

  constructor(settings: EvidenceExporterSettings) {
    this.#audit = settings.audit;
    this.#machine = settings.machine;
    this.#checkpointer = settings.checkpointer;
    this.#signingKeys = settings.signingKeys;
    this.#storage = settings.storage;
    this.#signers = settings.signers;
  }

  /**
   * The evidence bundle of a run, against the first checkpoint that covers all its entries
   * (anchored ones first). Throws CAIRN_NOT_FOUND for an unknown run and CAIRN_BUNDLE_INVALID
   * while no checkpoint covers it yet (the engine issues one when a run ends).
   */
  async exportBundle(runId: string): Promise<EvidenceBundleV1> {
    const spec = this.#machine.spec(runId);
    if (!spec) throw new CairnError('CAIRN_NOT_FOUND', `Run ${runId} does not exist.`, { details: { runId } });
    const entries = this.#audit.runEntries(runId);
    const needed = Math.max(...entries.map((entry) => entry.seq)) + 1;
    if (!this.#checkpointer.covering(needed)?.anchored) {
      // The run may have just ended: issue (and try to anchor) its checkpoint now, rather than
      // hand out evidence the loop would have anchored a moment later.
      await this.#checkpointer.issueIfDue();
      await this.#checkpointer.anchorDue();
    }
    const checkpoint = this.#checkpointer.covering(needed);
    if (!checkpoint)
      throw new CairnError('CAIRN_BUNDLE_INVALID', `No checkpoint covers run ${runId} yet (it needs ${needed} entries); try again once the run has ended.`);
    const manifests = await Promise.all(
      entries
        .flatMap((entry) => (entry.action === 'attempt.dispatched' && typeof entry.data['manifestDigest'] === 'string' ? [entry.data['manifestDigest']] : []))
        .map(async (digest) => JSON.parse(new TextDecoder().decode((await this.#storage.get(manifestKey(digest)))!)) as StoredManifest),
    );
    // The envelopes whose signatures vouch for the manifests: their own, or their batch's (ADR 0026).
    const manifestEnvelopes = manifests.map(storedManifestEnvelope);
    // Every key that signed something in the bundle: after a rotation, the old key and the new.
    const keys = await this.#signingKeys.signersOf([checkpoint.envelope, ...checkpoint.receipts, ...manifestEnvelopes], this.#signers);
    // Keys that signed manifests in place of those (delegates) come with their statements instead.
    const delegations = await this.#delegationsOf(
      manifestEnvelopes,
      keys.map((key) => key.keyId),
    );
    // The fragments its planners added (ADR 0034): their outputs, as stored by digest.
    const fragments = await Promise.all(
      entries
        .flatMap((entry) => (entry.action === 'run.extended' && typeof entry.data['fragment'] === 'string' ? [entry.data['fragment'] as Digest] : []))
        .map(async (digest) => {
          const bytes = await this.#storage.get(blobKey(digest));
          if (bytes === null)
            throw new CairnError('CAIRN_BUNDLE_INVALID', `The fragment ${digest} run ${runId} grew by is not in storage; the bundle cannot carry it.`);
          return { digest, fragment: JSON.parse(new TextDecoder().decode(bytes)) as JsonValue };
        }),
    );
    return buildEvidenceBundle({
      runId,
      ...(fragments.length > 0 ? { fragments } : {}),
      spec,
      entries,
      proofs: this.#audit.merkle,
      checkpoint: checkpoint.envelope,
      ...timestampTokenField(checkpoint.receipts),
      anchors: checkpoint.receipts,
      keys,
      manifests,
      ...(delegations.length > 0 ? { delegations } : {}),
    });
  }

  // The delegation statements of the keys (other than `keys`) that signed `manifests`, as stored.
  // Storage is not trusted for them: the verifier checks each against the keys it trusts.
  async #delegationsOf(manifests: readonly DsseEnvelope[], keys: readonly string[]): Promise<DsseEnvelope[]> {
    const delegates = new Set(
      manifests.flatMap((envelope) => envelope.signatures.map((signature) => signature.keyid)).filter((keyId) => !keys.includes(keyId)),
    );
    const statements = await Promise.all(
      [...delegates].map(async (keyId) => ({ where: delegationKey(keyId), bytes: await this.#storage.get(delegationKey(keyId)) })),
    );
    // A missing statement is left out (the verifier then names the manifest it cannot vouch for).
    return statements.flatMap(({ where, bytes }) => {
      if (bytes === null) return [];
      try {
        return [parsePayload(dsseEnvelopeSchema, JSON.parse(new TextDecoder().decode(bytes)), 'key delegation statement')];
      } catch (error) {
        throw new CairnError('CAIRN_BUNDLE_INVALID', `The delegation statement ${where} in storage is not a DSSE envelope; the bundle cannot carry it.`, {
          path: where,
          cause: error,
        });
      }
    });
  }
}

/** The `timestampToken` input of a bundle: the RFC 3161 token an anchor's receipt carries, if any. */
function timestampTokenField(receipts: readonly DsseEnvelope[]): { timestampToken?: Uint8Array } {
  const token = receiptTimestampToken(receipts);
  return token === undefined ? {} : { timestampToken: token };
}
