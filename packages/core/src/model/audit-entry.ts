import type { AuditActor } from './actor.ts';
import type { JsonObject } from './json.ts';

/** What an audit entry is about. */
export type AuditEntityKind =
  'run' | 'item' | 'attempt' | 'artifact' | 'token' | 'schedule' | 'webhook' | 'checkpoint' | 'secret' | 'server' | 'key' | 'signer';

/**
 * The closed list of audited operations, `<entity>.<verb>`. A run's entries start with
 * `run.submitted` and end with one terminal `run.*` entry, which is what makes a bundle's
 * completeness checkable.
 */
export type AuditAction =
  | 'run.submitted'
  | 'run.started'
  | 'run.budget-exhausted'
  | 'run.budget-raised'
  | 'run.extended'
  | 'run.succeeded'
  | 'run.failed'
  | 'run.cancelled'
  | 'item.blocked'
  | 'item.ready'
  | 'item.approval-requested'
  | 'item.approval-voted'
  | 'item.approved'
  | 'item.skipped'
  | 'item.cancelled'
  | 'item.succeeded'
  | 'item.failed'
  | 'item.rejected'
  | 'item.reused'
  | 'attempt.dispatched'
  | 'attempt.started'
  | 'attempt.completed'
  | 'attempt.lost'
  | 'attempt.cancelled'
  | 'attempt.result-rejected'
  | 'candidate.checked'
  | 'candidate.selected'
  | 'candidate.none-passed'
  | 'candidate.judged'
  | 'candidate.judge-refused'
  | 'model.called'
  | 'artifact.stored'
  | 'token.created'
  | 'token.revoked'
  | 'schedule.created'
  | 'schedule.removed'
  | 'schedule.fired'
  | 'schedule.skipped'
  | 'secret.set'
  | 'secret.removed'
  | 'secret.used'
  | 'webhook.created'
  | 'webhook.removed'
  | 'webhook.disabled'
  | 'checkpoint.issued'
  | 'checkpoint.anchored'
  | 'key.delegated'
  | 'signer.rotated'
  | 'server.started'
  | 'server.stopped'
  | 'access.denied';

/** Whether the audited operation happened (`success`), failed, or was refused (`denied`). */
export type AuditOutcome = 'success' | 'failure' | 'denied';

/**
 * One entry of the global audit log. Its leaf is SHA-256(0x00 ‖ canonical JSON of this object),
 * so time and actor are covered by the Merkle tree. `data` never holds secret values.
 */
export interface AuditEntry {
  /** Position in the global log: the Merkle leaf index, from 0, without gaps. */
  readonly seq: number;
  /** ISO 8601 UTC time with milliseconds. */
  readonly time: string;
  readonly actor: AuditActor;
  readonly action: AuditAction;
  readonly entity: { readonly kind: AuditEntityKind; readonly id: string };
  readonly outcome: AuditOutcome;
  /** The run the entry belongs to, if any. */
  readonly runId?: string;
  /** Position among the run's entries, from 0, without gaps (set exactly when `runId` is). */
  readonly runSeq?: number;
  readonly data: JsonObject;
}
