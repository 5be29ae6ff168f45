import type { AnchorCheckpoint, CheckpointReference, AnchoredCheckpoint, AnchorReceipt, AuditAnchorV1 } from '@cairn/core';
import { CairnError, sha256Digest } from '@cairn/protocol';

/** Where an in-memory anchor keeps checkpoints; hand it to an oracle to read or tamper with. */
export interface InMemoryAuditAnchorBackend {
  /** Envelope bytes by location, as an anchor file or bucket would hold them. */
  readonly objects: Map<string, Uint8Array>;
  /** What was anchored at each location: the root it commits to and its receipt. */
  readonly anchored: Map<string, { readonly rootHash: string; readonly receipt: AnchorReceipt }>;
}

/** Settings of `createInMemoryAuditAnchor`. */
export interface InMemoryAuditAnchorSettings {
  /** The backend; a new empty one when omitted. Share it to simulate a restart. */
  readonly backend?: InMemoryAuditAnchorBackend;
  /** Clock for receipts; `Date.now` by default. */
  readonly now?: () => number;
}

/**
 * AuditAnchorV1 in memory, with the `detect` guarantee: whoever holds the process can rewrite
 * it, so reads always return what the backend holds now and the verifier's signature check is
 * what detects tampering.
 */
export class InMemoryAuditAnchor implements AuditAnchorV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'in-memory';
  readonly guarantee = 'detect';
  readonly backend: InMemoryAuditAnchorBackend;
  readonly #now: () => number;

  constructor(settings: InMemoryAuditAnchorSettings = {}) {
    this.backend = settings.backend ?? { objects: new Map(), anchored: new Map() };
    this.#now = settings.now ?? Date.now;
  }

  async anchor(checkpoint: AnchorCheckpoint): Promise<AnchorReceipt> {
    const location = locationOf(checkpoint);
    const existing = this.backend.anchored.get(location);
    if (existing !== undefined) {
      // Same tree head again (a retry, or a re-signed envelope of it): the first anchoring stands.
      if (existing.rootHash === checkpoint.rootHash) return existing.receipt;
      throw new CairnError(
        'CAIRN_ANCHOR_CONFLICT',
        `[cairn] [conformance] a different checkpoint of ${checkpoint.origin} at tree size ${checkpoint.treeSize} is already anchored; anchored history is never rewritten`,
      );
    }
    const receipt: AnchorReceipt = {
      anchor: this.provider,
      guarantee: this.guarantee,
      location,
      anchoredAt: new Date(this.#now()).toISOString(),
      origin: checkpoint.origin,
      treeSize: checkpoint.treeSize,
      rootHash: checkpoint.rootHash,
      envelopeDigest: sha256Digest(checkpoint.envelope),
    };
    this.backend.objects.set(location, Uint8Array.from(checkpoint.envelope));
    this.backend.anchored.set(location, { rootHash: checkpoint.rootHash, receipt });
    return receipt;
  }

  async read(reference: CheckpointReference): Promise<AnchoredCheckpoint | null> {
    const location = locationOf(reference);
    const anchored = this.backend.anchored.get(location);
    if (anchored === undefined || anchored.rootHash !== reference.rootHash) return null;
    const envelope = this.backend.objects.get(location);
    return envelope === undefined ? null : { envelope: Uint8Array.from(envelope), receipt: anchored.receipt };
  }
}

/** Builds an in-memory audit anchor. */
export function createInMemoryAuditAnchor(settings: InMemoryAuditAnchorSettings = {}): InMemoryAuditAnchor {
  return new InMemoryAuditAnchor(settings);
}

function locationOf(reference: CheckpointReference): string {
  return `${encodeURIComponent(reference.origin)}/${String(reference.treeSize).padStart(20, '0')}`;
}
