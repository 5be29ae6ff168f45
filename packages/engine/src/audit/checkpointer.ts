import type { AuditAnchorV1, DsseEnvelope, PublicKeyRecord, SignerRotation, SignerV1 } from '@cairn/core';
import { anchorEnvelopeBytes, readCheckpoint, signCheckpoint, signerRotatedData, signReceipt, signSignerRotation } from '@cairn/audit';
import { CairnError, isCairnError } from '@cairn/protocol';
import type { WorkingCopy } from '../store/sqlite/working-copy.ts';
import type { AuditLog } from './audit-log.ts';
import { retryDelay } from '../retry-delay.ts';
import { storageFullReason } from '../store/storage-full.ts';
import { engineActor } from '../engine-actor.ts';
import type { EngineObserver } from '../engine-observer.ts';
import { nothingToWaitFor, type GroupCommit } from '../store/group-commit.ts';

export interface CheckpointerSettings {
  readonly workingCopy: WorkingCopy;
  readonly audit: AuditLog;
  readonly signer: SignerV1;
  /**
   * The signer of the key the log was signed with until now, when `signer` is a new key: the
   * handover to `signer` is signed by it (ADR 0019). Without it, a `signer` whose key is not the
   * log's is refused.
   */
  readonly previousSigner?: SignerV1;
  /** Where checkpoints are anchored; none keeps them only in the working copy. */
  readonly anchors: readonly AuditAnchorV1[];
  /** Names the log in every checkpoint (`cairn:<server>`). */
  readonly origin: string;
  /** Issue a checkpoint once this many entries are uncovered... */
  readonly everyEntries: number;
  /** ...or once the oldest uncovered entry is this old. */
  readonly everyMs: number;
  readonly now: () => number;
  /** Told when an anchor fails, for metrics. */
  readonly observer?: EngineObserver;
  /** Makes the checkpoint durable before it is anchored outside (ADR 0023). */
  readonly commit?: GroupCommit;
}

/** A stored checkpoint and what anchoring it has achieved. */
export interface StoredCheckpoint {
  readonly treeSize: number;
  readonly envelope: DsseEnvelope;
  readonly anchored: boolean;
  /** Signed receipts, one per anchor, once anchored. */
  readonly receipts: readonly DsseEnvelope[];
}

/** What `takeOver` found: the log's key was the signer's already, or it was handed over to it. */
export type SignerTakeOver =
  | { readonly rotated: false; readonly keyId: string }
  | { readonly rotated: true; readonly keyId: string; readonly fromKeyId: string; readonly seq: number; readonly fromCheckpoint: number };

/** Between tries of an anchor that failed: 1s, 2s, 4s ... up to 5 minutes. */
const anchorBackoff = { initial: '1s', factor: 2, max: '5m', jitter: false } as const;

/**
 * Issues signed checkpoints of the audit log (every N entries, every T, and when a run ends) and
 * anchors them. An anchor that fails keeps the checkpoint queued and is retried with exponential
 * backoff; nothing is dropped, and every step is audited.
 */
export class Checkpointer {
  readonly #settings: CheckpointerSettings;
  readonly #workingCopy: WorkingCopy;
  /** Signing steps (the handover, issuing): the loop and an export may both ask, and must not sign twice. */
  readonly #signing = new StepLine();
  /**
   * Anchoring, a line of its own: anchors are outside the machine (a file synced to disk, S3, a
   * timestamp authority), and a checkpoint issued meanwhile need not wait for them. The loop and
   * an export may both ask, and must not anchor a checkpoint twice.
   */
  readonly #anchoring = new StepLine();
  /** The check (and handover) of the signer's key against the log's, once per process. */
  #takeOver: Promise<SignerTakeOver> | undefined;
  readonly #commit: GroupCommit;
  /**
   * The log before `to` holds no run end after the last checkpoint: searched already, at the
   * working copy's rollback count `rollbacks` (after a rollback, it is searched again).
   */
  #runEndSearch: { readonly to: number; readonly rollbacks: number | undefined } | undefined;

  constructor(settings: CheckpointerSettings) {
    this.#settings = settings;
    this.#commit = settings.commit ?? nothingToWaitFor;
    this.#workingCopy = settings.workingCopy;
  }

  /**
   * Signs a checkpoint of the whole log when one is due: enough new entries, the oldest uncovered
   * entry old enough, or a run ended since the last one. Returns its tree size, if it issued one.
   */
  issueIfDue(): Promise<number | undefined> {
    return this.takeOver().then(() => this.#signing.run(() => this.#issueIfDue()));
  }

  /** Anchors every checkpoint that is due; returns how many became anchored. */
  anchorDue(): Promise<number> {
    return this.takeOver().then(() => this.#anchoring.run(() => this.#anchorDue()));
  }

  /**
   * Checks the signer's key against the key the log was last signed with (the latest checkpoint's,
   * or the key a later `signer.rotated` entry handed over to), once per process; nothing is signed
   * before it passes. The same key (or a log never signed yet): nothing to do. Another key, with
   * `previousSigner` of the log's key: the handover (ADR 0019) — a last checkpoint by the old key
   * over everything so far, a `signer.rotated` entry holding the statement the old key signs (from
   * that checkpoint on, the new key signs), and a checkpoint by the new key over it. Otherwise
   * rejects with CAIRN_CONFIG_INVALID naming both keys and what to pass; a restart after the
   * handover finds the new key in force and rotates nothing. A refusal is final for this process;
   * any other failure (a signer that could not sign: KMS unreachable) is tried again on the next
   * call, resuming the handover where it stopped.
   */
  takeOver(): Promise<SignerTakeOver> {
    this.#takeOver ??= this.#signing
      .run(() => this.#takeOverNow())
      .catch((error: unknown) => {
        if (!isCairnError(error, 'CAIRN_CONFIG_INVALID')) this.#takeOver = undefined;
        throw error;
      });
    return this.#takeOver;
  }

  /** The key the log is signed with now, and what says so; undefined for a log never signed. */
  #logKey(): { keyId: string; by: string } | undefined {
    // Reads the log: entries appended in an open transaction are written first.
    this.#workingCopy.flushDeferredWrites();
    const latest = this.#workingCopy.checkpoints.latest();
    const rotated = this.#workingCopy.auditEntries.lastSignerRotationFrom(latest?.treeSize ?? 0);
    if (rotated) return { keyId: String(rotated.data['toKeyId']), by: `the signer.rotated entry at seq ${rotated.seq}` };
    if (!latest) return undefined;
    return { keyId: latest.envelope.signatures[0]?.keyid ?? '', by: `the checkpoint at tree size ${latest.treeSize}` };
  }

  async #takeOverNow(): Promise<SignerTakeOver> {
    const { signer, previousSigner } = this.#settings;
    const keyId = await signer.keyId();
    const log = this.#logKey();
    if (!log || log.keyId === keyId) return { rotated: false, keyId };
    const previousKeyId = await previousSigner?.keyId();
    if (!previousSigner || previousKeyId !== log.keyId) {
      const given = previousSigner ? ` The previousSigner given is ${previousKeyId}, not that key.` : '';
      throw new CairnError(
        'CAIRN_CONFIG_INVALID',
        `The signer's key ${keyId} is not the key this audit log is signed with (${log.keyId}, by ${log.by}); a key never changes silently.${given} To rotate to ${keyId}, also give the engine previousSigner: the signer of ${log.keyId}, which signs the handover. To keep the old key, configure its signer again.`,
        {
          path: previousSigner ? 'engine.previousSigner' : 'engine.signer',
          details: { keyId, logKeyId: log.keyId, ...(previousKeyId ? { previousKeyId } : {}) },
        },
      );
    }
    // Everything so far is sealed by the old key first, so the handover point is a checkpoint it signed.
    const sealed = this.#workingCopy.checkpoints.latestTreeSize();
    if (this.#settings.audit.size > sealed) await this.#issue(previousSigner);
    const fromCheckpoint = this.#workingCopy.checkpoints.latestTreeSize();
    const rotation: SignerRotation = {
      version: 'cairn.signer-rotation/v1',
      origin: this.#settings.origin,
      from: await publicKeyRecord(previousSigner),
      to: await publicKeyRecord(signer),
      fromCheckpoint,
      rootHash: Buffer.from(this.#settings.audit.merkle.rootHash(fromCheckpoint)).toString('hex'),
      time: new Date(this.#settings.now()).toISOString(),
    };
    const statement = await signSignerRotation(rotation, previousSigner);
    const entry = this.#settings.audit.append({
      actor: engineActor,
      action: 'signer.rotated',
      entity: { kind: 'signer', id: keyId },
      outcome: 'success',
      data: signerRotatedData(rotation, statement),
    });
    // The new key seals the handover at once: from here on, every checkpoint is its own.
    await this.#issue(signer);
    return { rotated: true, keyId, fromKeyId: log.keyId, seq: entry.seq, fromCheckpoint };
  }

  async #issueIfDue(): Promise<number | undefined> {
    const size = this.#settings.audit.size;
    const covered = this.#workingCopy.checkpoints.latestTreeSize();
    if (size <= covered) return undefined;
    // Reads the log: entries appended in an open transaction are written first.
    this.#workingCopy.flushDeferredWrites();
    const oldest = this.#workingCopy.auditEntries.timeAt(covered);
    const due =
      size - covered >= this.#settings.everyEntries ||
      (oldest !== undefined && this.#settings.now() - Date.parse(oldest) >= this.#settings.everyMs) ||
      this.#runEndedSince(covered, size);
    if (!due) return undefined;
    return this.#issue(this.#settings.signer);
  }

  // Whether a run ended in the log since `covered`. The loop asks every turn: only entries not
  // searched on an earlier turn are read, or each turn would read every uncovered entry again (up
  // to `everyEntries` of them). The log is append-only; after a rollback (an entry searched may
  // be gone, and its seq reused) everything since `covered` is searched again.
  #runEndedSince(covered: number, size: number): boolean {
    const rollbacks = this.#workingCopy.rollbacks;
    const searched = this.#runEndSearch;
    const trusted = searched !== undefined && rollbacks !== undefined && searched.rollbacks === rollbacks && searched.to >= covered && searched.to <= size;
    if (this.#workingCopy.auditEntries.runEndedFrom(trusted ? searched.to : covered)) return true;
    this.#runEndSearch = { to: size, rollbacks };
    return false;
  }

  /** Signs a checkpoint of the whole log now with `signer`, and records it; returns its tree size. */
  async #issue(signer: SignerV1): Promise<number> {
    const size = this.#settings.audit.size;
    const time = new Date(this.#settings.now()).toISOString();
    const envelope = await signCheckpoint(
      { origin: this.#settings.origin, treeSize: size, rootHash: Buffer.from(this.#settings.audit.merkle.rootHash(size)).toString('hex'), time },
      signer,
    );
    this.#workingCopy.transaction(() => {
      this.#workingCopy.checkpoints.add(size, envelope, time, time);
      this.#settings.audit.append({
        actor: engineActor,
        action: 'checkpoint.issued',
        entity: { kind: 'checkpoint', id: String(size) },
        outcome: 'success',
        data: { treeSize: size },
      });
    })();
    return size;
  }

  async #anchorDue(): Promise<number> {
    let anchored = 0;
    const due = this.#workingCopy.checkpoints.dueForAnchoring(new Date(this.#settings.now()).toISOString());
    // A checkpoint leaves the engine (to its anchors) only once it is durable.
    if (due.length > 0) await this.#commit();
    for (const stored of due) {
      const checkpoint = readCheckpoint(stored.envelope);
      try {
        const receipts: DsseEnvelope[] = [];
        for (const anchor of this.#settings.anchors) {
          const receipt = await anchor.anchor({
            origin: checkpoint.origin,
            treeSize: checkpoint.treeSize,
            rootHash: checkpoint.rootHash,
            envelope: anchorEnvelopeBytes(stored.envelope),
          });
          receipts.push(await signReceipt(receipt, this.#settings.signer));
        }
        this.#workingCopy.transaction(() => {
          this.#workingCopy.checkpoints.markAnchored(stored.treeSize, receipts);
          this.#settings.audit.append({
            actor: engineActor,
            action: 'checkpoint.anchored',
            entity: { kind: 'checkpoint', id: String(stored.treeSize) },
            outcome: 'success',
            data: { treeSize: stored.treeSize, anchors: this.#settings.anchors.map((anchor) => anchor.provider) },
          });
        })();
        anchored++;
      } catch (error) {
        // A full disk failed the write, not the anchor: nothing to record (and no room to), the
        // loop retries once there is room.
        if (storageFullReason(error) !== undefined) throw error;
        // The anchor is down or refused: keep the checkpoint queued, try again later.
        const reason = isCairnError(error) ? `${error.code}: ${error.message}` : String(error);
        const backoff = retryDelay(stored.tries + 1, anchorBackoff);
        this.#settings.observer?.anchorFailed?.({ treeSize: stored.treeSize, error: reason });
        this.#workingCopy.transaction(() => {
          this.#workingCopy.checkpoints.markAnchorFailed(stored.treeSize, new Date(this.#settings.now() + backoff).toISOString(), reason);
          this.#settings.audit.append({
            actor: engineActor,
            action: 'checkpoint.anchored',
            entity: { kind: 'checkpoint', id: String(stored.treeSize) },
            outcome: 'failure',
            data: { treeSize: stored.treeSize, reason },
          });
        })();
      }
    }
    return anchored;
  }

  /**
   * How far anchoring trails the log: entries no anchored checkpoint covers yet, and checkpoints
   * waiting to be anchored.
   */
  lag(): { readonly unanchoredEntries: number; readonly pendingCheckpoints: number } {
    const { anchoredTreeSize, pending } = this.#workingCopy.checkpoints.anchoringLag();
    return { unanchoredEntries: this.#settings.audit.size - anchoredTreeSize, pendingCheckpoints: pending };
  }

  /** The first checkpoint covering `treeSize` entries, anchored ones first. */
  covering(treeSize: number): StoredCheckpoint | undefined {
    return this.#workingCopy.checkpoints.covering(treeSize);
  }
}

/** Steps run one at a time, in the order asked; a step that fails does not stop the ones after it. */
class StepLine {
  #last: Promise<unknown> = Promise.resolve();

  run<T>(step: () => Promise<T>): Promise<T> {
    const result = this.#last.then(step, step);
    this.#last = result.catch(() => undefined);
    return result;
  }
}

/** A signer's key as a bundle and a rotation statement carry it. */
export async function publicKeyRecord(signer: SignerV1): Promise<PublicKeyRecord> {
  return { keyId: await signer.keyId(), algorithm: signer.algorithm, publicKey: Buffer.from(await signer.publicKey()).toString('base64') };
}
