import type { AuditActor, CipherEnvelope, JsonValue } from '@cairn/core';
import { CairnError } from '@cairn/protocol';
import type { Engine } from '../engine.ts';
import type { HostAuditRecord } from '../host-audit/host-audit-record.ts';
import type { ScheduleDefinition } from '../schedules/schedule-book.ts';
import type { SubmitOptions } from '../state/run-state-machine.ts';

/**
 * What each command a replica sends carries (ADR 0023), beside its actor. A secret's value never
 * travels in clear: the replica seals it with the deployment's cipher for this purpose
 * (`sealedSecretContext`), and the engine opens it and stores it as any secret.
 */
export interface EngineCommandPayloads {
  readonly submit: { readonly document: JsonValue; readonly options: Omit<SubmitOptions, 'actor' | 'context'> };
  readonly approve: { readonly runId: string; readonly itemId: string; readonly reason?: string };
  readonly reject: { readonly runId: string; readonly itemId: string; readonly reason?: string };
  readonly 'cancel-run': { readonly runId: string; readonly reason?: string };
  readonly 'cancel-item': { readonly runId: string; readonly itemId: string; readonly reason?: string };
  readonly 'add-schedule': { readonly definition: ScheduleDefinition };
  readonly 'remove-schedule': { readonly scheduleId: string };
  readonly 'set-secret': { readonly name: string; readonly sealed: CipherEnvelope };
  readonly 'remove-secret': { readonly name: string };
  /** An entry the host owns (access, tokens, webhooks), checked again by the engine; the actor is the record's. */
  readonly 'host-audit': { readonly record: HostAuditRecord };
  /** A run's evidence bundle, made where the state is in memory (the leader's working copy). */
  readonly 'export-bundle': { readonly runId: string };
}

/** The context a replica seals a secret's value under for its trip through `engine_commands`. */
export function sealedSecretContext(name: string): Readonly<Record<string, string>> {
  return { purpose: 'cairn-set-secret-command', secret: name };
}

/**
 * Carries out one command on the engine that holds the writer lease, as its own process would
 * have: the same checks, the same errors (a CairnError is the replica's answer). Returns the
 * command's JSON result.
 */
export async function carryOutCommand(
  engine: Engine,
  command: { readonly kind: keyof EngineCommandPayloads; readonly payload: JsonValue; readonly actor: JsonValue | null },
  openSealed: (sealed: CipherEnvelope, context: Readonly<Record<string, string>>) => Promise<Uint8Array>,
): Promise<JsonValue> {
  if (command.kind === 'host-audit') {
    await appendHostRecord(engine, (command.payload as unknown as EngineCommandPayloads['host-audit']).record);
    return null;
  }
  if (command.kind === 'export-bundle')
    return (await engine.exportBundle((command.payload as unknown as EngineCommandPayloads['export-bundle']).runId)) as unknown as JsonValue;
  const actor = command.actor as unknown as AuditActor | null;
  if (actor === null) throw new CairnError('CAIRN_PAYLOAD_INVALID', `The ${command.kind} command names no actor; every command is audited as someone's.`);
  switch (command.kind) {
    case 'submit': {
      const { document, options } = command.payload as unknown as EngineCommandPayloads['submit'];
      return engine.submit(document, { ...options, actor }) as unknown as JsonValue;
    }
    case 'approve': {
      const { runId, itemId, reason } = command.payload as unknown as EngineCommandPayloads['approve'];
      engine.approve(runId, itemId, actor, reason);
      return null;
    }
    case 'reject': {
      const { runId, itemId, reason } = command.payload as unknown as EngineCommandPayloads['reject'];
      engine.reject(runId, itemId, actor, reason);
      return null;
    }
    case 'cancel-run': {
      const { runId, reason } = command.payload as unknown as EngineCommandPayloads['cancel-run'];
      engine.cancelRun(runId, actor, reason);
      return null;
    }
    case 'cancel-item': {
      const { runId, itemId, reason } = command.payload as unknown as EngineCommandPayloads['cancel-item'];
      engine.cancelItem(runId, itemId, actor, reason);
      return null;
    }
    case 'add-schedule': {
      const { definition } = command.payload as unknown as EngineCommandPayloads['add-schedule'];
      return engine.addSchedule(definition, actor) as unknown as JsonValue;
    }
    case 'remove-schedule': {
      engine.removeSchedule((command.payload as unknown as EngineCommandPayloads['remove-schedule']).scheduleId, actor);
      return null;
    }
    case 'set-secret': {
      const { name, sealed } = command.payload as unknown as EngineCommandPayloads['set-secret'];
      const value = new TextDecoder().decode(await openSealed(sealed, sealedSecretContext(name)));
      return (await engine.setSecret(name, value, actor)) as unknown as JsonValue;
    }
    case 'remove-secret': {
      engine.removeSecret((command.payload as unknown as EngineCommandPayloads['remove-secret']).name, actor);
      return null;
    }
  }
}

// A host record through the engine's own host writer (which checks it): one method per action.
function appendHostRecord(engine: Engine, record: HostAuditRecord): Promise<void> {
  const writer = engine.service().hostAudit;
  switch (record.action) {
    case 'access.denied': {
      const { action: _action, ...denial } = record;
      return writer.accessDenied(denial);
    }
    case 'token.created': {
      const { action: _action, ...token } = record;
      return writer.tokenCreated(token);
    }
    case 'token.revoked': {
      const { action: _action, ...token } = record;
      return writer.tokenRevoked(token);
    }
    case 'webhook.created': {
      const { action: _action, runId, ...webhook } = record;
      return writer.webhookCreated({ ...webhook, ...(runId === undefined ? {} : { runId }) });
    }
    case 'webhook.removed': {
      const { action: _action, ...webhook } = record;
      return writer.webhookRemoved(webhook);
    }
    case 'webhook.disabled': {
      const { action: _action, ...webhook } = record;
      return writer.webhookDisabled(webhook);
    }
  }
}
