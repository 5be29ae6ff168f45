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
 * it. Reads go to the backend every time and refuse, with CAIRN_ANCHOR_TAMPERED, envelope bytes
 * that no longer hash to the receipt's `envelopeDigest` (or that are gone).
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
    // Read live, and never hand back bytes that no longer match the receipt written for them.
    const envelope = this.backend.objects.get(location);
    const found = envelope === undefined ? 'nothing' : sha256Digest(envelope);
    if (found !== anchored.receipt.envelopeDigest) {
      throw new CairnError(
        'CAIRN_ANCHOR_TAMPERED',
        `[cairn] [conformance] the checkpoint of ${reference.origin} at tree size ${reference.treeSize} at ${location} was anchored as ${anchored.receipt.envelopeDigest} but the backend now holds ${found}`,
        { details: { location, expected: anchored.receipt.envelopeDigest, found } },
      );
    }
    return { envelope: Uint8Array.from(envelope!), receipt: anchored.receipt };
  }
}

/** Builds an in-memory audit anchor. */
export function createInMemoryAuditAnchor(settings: InMemoryAuditAnchorSettings = {}): InMemoryAuditAnchor {
  return new InMemoryAuditAnchor(settings);
}

function locationOf(reference: CheckpointReference): string {
  return `${encodeURIComponent(reference.origin)}/${String(reference.treeSize).padStart(20, '0')}`;
}
