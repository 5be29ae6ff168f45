import type { AuditActor } from '@cairn/core';
import type { EngineService } from '@cairn/engine';

/**
 * A runner's late result (ADR 0050): an exit, or a write or delete of an attempt's storage, after
 * its lease lapsed and the attempt was recorded lost. Refused, and audited as an access denial of
 * the runner's action on the attempt's item, so the log says which runner tried what and when.
 */
export async function auditLateResult(
  service: EngineService,
  late: { readonly runnerName: string; readonly executionId: string; readonly what: string; readonly reason: string },
): Promise<void> {
  const actor: AuditActor = { kind: 'token', id: late.runnerName, via: 'http' };
  const [runId, itemId] = late.executionId.split('/');
  const entity = runId !== undefined && itemId !== undefined ? { kind: 'item' as const, id: `${runId}/${itemId}` } : { kind: 'server' as const, id: 'server' };
  await service.hostAudit.accessDenied({
    actor,
    entity,
    requestedAction: 'runner.run',
    reason: `late result of ${late.executionId} (${late.what}): ${late.reason}`,
  });
}
