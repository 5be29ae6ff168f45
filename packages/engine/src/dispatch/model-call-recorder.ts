import type { AuditEntry, ModelCallData } from '@cairn/core';
import { CairnError, modelCallDataSchema, parsePayload } from '@cairn/protocol';
import type { AuditLog } from '../audit/audit-log.ts';
import type { AttemptStore } from '../store/sqlite/attempt-store.ts';
import type { GatewayRefusals } from './gateway-refusals.ts';
import { PendingModelCalls } from './pending-model-calls.ts';

/** The attempt a gateway credential names, while it is live. */
export interface LiveAttempt {
  readonly runId: string;
  readonly itemId: string;
  readonly attempt: number;
  readonly executionId: string;
}

/**
 * One model call as the gateway measured it (ADR 0033): the data of its `model.called` entry
 * (`ModelCallData`, docs/audit/formats.md) but for the item and attempt, which the execution id
 * names, with the entry's outcome. `success`: the provider answered 2xx; `failure`: it did not, or
 * the stream broke; `denied`: the gateway refused it.
 */
export type ModelCall = Omit<ModelCallData, 'itemId' | 'attempt'> & {
  readonly executionId: string;
  readonly outcome: 'success' | 'failure' | 'denied';
  /** A denied call's CairnError code (`CAIRN_MODEL_NOT_ALLOWED`): what the attempt's failure says first if it fails. */
  readonly refusalCode?: string;
};

/** Who the `model.called` entries are by: the gateway, for the attempt its credential names. */
const gatewayActor = { kind: 'system', id: 'gateway', via: 'http' } as const;

/**
 * Writes the `model.called` entries of the model gateway into their runs' entries, and answers
 * whether an attempt is live: a call is recorded only for an attempt that is, so that its entries
 * come between its dispatch and its end (the bundle's order), and a credential stops working the
 * moment its attempt ends.
 */
export class ModelCallRecorder {
  readonly #attempts: AttemptStore;
  readonly #audit: AuditLog;
  readonly #refusals: GatewayRefusals | undefined;
  /** Calls whose entries wait for their bodies (`recordOnceStored`): an attempt's end waits for its own. */
  readonly pending = new PendingModelCalls();

  constructor(settings: { readonly attempts: AttemptStore; readonly audit: AuditLog; readonly refusals?: GatewayRefusals }) {
    this.#attempts = settings.attempts;
    this.#audit = settings.audit;
    this.#refusals = settings.refusals;
  }

  /** The attempt, while it runs (dispatched, not yet ended); undefined otherwise. */
  liveAttempt(executionId: string): LiveAttempt | undefined {
    const attempt = this.#attempts.byExecutionId(executionId);
    if (attempt === undefined || attempt.finishedAt !== null) return undefined;
    return { runId: attempt.runId, itemId: attempt.itemId, attempt: attempt.attempt, executionId };
  }

  /** Appends the call's `model.called` entry; CAIRN_MODEL_NOT_ALLOWED when its attempt is not live. */
  record(call: ModelCall): AuditEntry {
    const live = this.liveAttempt(call.executionId);
    if (live === undefined) throw notRunning(call.executionId);
    const { executionId, outcome, refusalCode, ...measured } = call;
    // Checked as the verifier will check it: an entry a bundle would refuse is never written.
    const data = parsePayload(modelCallDataSchema, { ...measured, itemId: live.itemId, attempt: live.attempt }, 'the model call');
    const entry = this.#audit.append({
      actor: gatewayActor,
      action: 'model.called',
      entity: { kind: 'attempt', id: executionId },
      outcome,
      runId: live.runId,
      data,
    });
    if (outcome === 'denied')
      this.#refusals?.refused(executionId, { code: refusalCode, status: measured.status, reason: measured.reason ?? 'no reason given' });
    return entry;
  }

  /**
   * Appends the call's entry once `stored` (its bodies being made durable in storage) resolves, never
   * before (ADR 0059): on SQLite an entry is in the WAL from its write, where the kernel's write-back,
   * a checkpoint or a WAL fsync under way could make it durable at any moment, so it may be written
   * only once the bodies it names are durable. Throws CAIRN_MODEL_NOT_ALLOWED at once when the attempt
   * is not live. Meanwhile the call is `pending`: the attempt's end waits for it, so the entry still
   * comes before the end. `write` runs the append (the engine's guard for a full disk); `hold` (the
   * group commit's) makes every commit asked for from now on carry the entry, and breaks the commit
   * when the bodies could not be made durable: the call was answered and can never be audited.
   * Resolves with the entry; rejects with the bodies' error (nothing written), or with
   * CAIRN_MODEL_NOT_ALLOWED when the attempt ended without waiting (lost, or ended as it started).
   */
  recordOnceStored(
    call: ModelCall,
    stored: Promise<unknown>,
    write: (record: () => AuditEntry) => AuditEntry,
    hold?: (durable: Promise<unknown>) => void,
  ): Promise<AuditEntry> {
    if (this.liveAttempt(call.executionId) === undefined) throw notRunning(call.executionId);
    // Settles once the entry is written or dropped; rejects only when the bodies are not durable.
    const written = stored.then(() => {
      try {
        return { entry: write(() => this.record(call)) };
      } catch (error) {
        return { error };
      }
    });
    hold?.(written);
    const appended = written.then((outcome) => ('entry' in outcome ? outcome.entry : Promise.reject(outcome.error as Error)));
    this.pending.add(call.executionId, appended);
    return appended;
  }
}

function notRunning(executionId: string): CairnError {
  return new CairnError(
    'CAIRN_MODEL_NOT_ALLOWED',
    `Attempt ${JSON.stringify(executionId)} is not running, so no model call can be recorded for it: its credential ended with it.`,
    { path: 'executionId' },
  );
}
