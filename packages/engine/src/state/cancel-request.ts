import type { AuditActor } from '@cairn/core';

/** Who asked for a cancellation, and why (when they said): stored until the cancelled work has stopped. */
export interface CancelRequest {
  readonly actor: AuditActor;
  readonly reason?: string;
}

/** The text a `cancel_requested_by` column holds. */
export function encodeCancelRequest(request: CancelRequest): string {
  return JSON.stringify(request.reason === undefined ? { actor: request.actor } : request);
}

/**
 * Reads a `cancel_requested_by` column. Databases written before reasons were kept hold the bare
 * actor (it has a `kind`); both read as a request, so an upgrade mid-cancel loses nothing.
 */
export function decodeCancelRequest(text: string): CancelRequest {
  const stored = JSON.parse(text) as CancelRequest | AuditActor;
  return 'kind' in stored ? { actor: stored } : stored;
}

/** The audit data a cancellation's entries carry: the reason, when one was given. */
export function cancelReasonData(request: CancelRequest | null): { reason?: string } {
  return request?.reason === undefined ? {} : { reason: request.reason };
}
