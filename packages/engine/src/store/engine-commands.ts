import type { AuditActor, EvidenceBundleV1, JsonValue } from '@cairn/core';
import { auditActorSchema, budgetSpecSchema, cipherEnvelopeSchema, evidenceBundleSchema, parsePayload } from '@cairn/protocol';
import { z } from 'zod';
import type { Engine } from '../engine.ts';
import { hostAuditRecordSchema, type HostAuditRecord } from '../host-audit/host-audit-record.ts';
import { engineCommand, type EngineCommand, type OpenSealed } from './commands/engine-command.ts';
import {
  scheduleDefinitionSchema,
  scheduleRecordSchema,
  secretRecordSchema,
  submitOptionsSchema,
  submitResultSchema,
} from './commands/engine-record-schemas.ts';
import { jsonValueOf } from './commands/json-value-of.ts';

/** Who a command that changes something is audited as: the replica's caller, never nobody. */
const auditedAs: z.ZodType<AuditActor> = z.strictObject(auditActorSchema.shape, {
  error: (issue) =>
    issue.input === null || issue.input === undefined ? "is missing: every command that changes something is audited as someone's" : undefined,
});
/** A command that changes nothing is sent without an actor. */
const noActor = z.null();
const reason = z.string().exactOptional();
// The roles and groups of a person voting under an approval policy (ADR 0041).
const voter = z.strictObject({ roles: z.array(z.string()), groups: z.array(z.string()) }).exactOptional();
/** A bundle's arrays are read-only to whoever receives one. */
const bundleSchema: z.ZodType<EvidenceBundleV1> = evidenceBundleSchema;

/** A command that answers nothing once its change is made, audited as its sender. */
function answersNothing<Payload>(
  payload: z.ZodType<Payload>,
  change: (engine: Engine, payload: Payload, actor: AuditActor) => void | Promise<void>,
): EngineCommand<Payload, AuditActor, null> {
  return {
    payload,
    actor: auditedAs,
    result: z.null(),
    apply: async (engine, checked, actor) => {
      await change(engine, checked, actor);
      return null;
    },
  };
}

const commandTable = {
  submit: engineCommand({
    payload: z.strictObject({ document: z.unknown(), options: submitOptionsSchema }),
    actor: auditedAs,
    result: submitResultSchema,
    apply: (engine, { document, options }, actor) => engine.submit(document, { ...options, actor }),
  }),
  approve: answersNothing(z.strictObject({ runId: z.string(), itemId: z.string(), reason, voter }), (engine, { runId, itemId, reason, voter }, actor) =>
    engine.approve(runId, itemId, actor, reason, voter),
  ),
  reject: answersNothing(z.strictObject({ runId: z.string(), itemId: z.string(), reason, voter }), (engine, { runId, itemId, reason, voter }, actor) =>
    engine.reject(runId, itemId, actor, reason, voter),
  ),
  'raise-budget': answersNothing(
    z.strictObject({ runId: z.string(), budget: budgetSpecSchema, reason: z.string() }),
    (engine, { runId, budget, reason }, actor) => engine.raiseBudget(runId, budget, actor, reason),
  ),
  'cancel-run': answersNothing(z.strictObject({ runId: z.string(), reason }), (engine, { runId, reason }, actor) => engine.cancelRun(runId, actor, reason)),
  'cancel-item': answersNothing(z.strictObject({ runId: z.string(), itemId: z.string(), reason }), (engine, { runId, itemId, reason }, actor) =>
    engine.cancelItem(runId, itemId, actor, reason),
  ),
  'add-schedule': engineCommand({
    payload: z.strictObject({ definition: scheduleDefinitionSchema }),
    actor: auditedAs,
    result: scheduleRecordSchema,
    apply: (engine, { definition }, actor) => engine.addSchedule(definition, actor),
  }),
  'remove-schedule': answersNothing(z.strictObject({ scheduleId: z.string() }), (engine, { scheduleId }, actor) => engine.removeSchedule(scheduleId, actor)),
  /** The value is sealed by the replica with the deployment's cipher (`sealedSecretContext`): it never travels in clear. */
  'set-secret': engineCommand({
    payload: z.strictObject({ name: z.string(), sealed: cipherEnvelopeSchema }),
    actor: auditedAs,
    result: secretRecordSchema,
    apply: async (engine, { name, sealed }, actor, openSealed) =>
      engine.setSecret(name, new TextDecoder().decode(await openSealed(sealed, sealedSecretContext(name))), actor),
  }),
  'remove-secret': answersNothing(z.strictObject({ name: z.string() }), (engine, { name }, actor) => engine.removeSecret(name, actor)),
  /**
   * An entry the host owns (access, tokens, webhooks), sent as its record's actor. The record is
   * checked as the engine's host writer checks it in its own process, with the same error.
   */
  'host-audit': answersNothing(z.strictObject({ record: z.unknown() }), (engine, { record }) =>
    appendHostRecord(engine, parsePayload(hostAuditRecordSchema, record, 'The host audit record')),
  ),
  /** A run's evidence bundle, made where the state is in memory (the leader's working copy). */
  'export-bundle': engineCommand({
    payload: z.strictObject({ runId: z.string() }),
    actor: noActor,
    result: bundleSchema,
    apply: (engine, { runId }) => engine.exportBundle(runId),
  }),
};

type CommandTable = typeof commandTable;

/** What a replica asks of the engine that holds the writer lease. */
export type EngineCommandKind = keyof CommandTable;

/** What each command carries, beside its actor. */
export type EngineCommandPayloads = { readonly [Kind in EngineCommandKind]: z.output<CommandTable[Kind]['payload']> };
/** Who each command is audited as (`null`: sent without an actor). */
export type EngineCommandActors = { readonly [Kind in EngineCommandKind]: z.output<CommandTable[Kind]['actor']> };
/** What each command answers. */
export type EngineCommandResults = { readonly [Kind in EngineCommandKind]: z.output<CommandTable[Kind]['result']> };

/**
 * Every command a replica may send, declared once (ADR 0023): how its payload, actor and result
 * are checked where they arrive, and how it is carried out on the engine that holds the writer
 * lease. The carrying out and the replica's sending are derived from it.
 */
export const engineCommands: {
  readonly [Kind in EngineCommandKind]: EngineCommand<EngineCommandPayloads[Kind], EngineCommandActors[Kind], EngineCommandResults[Kind]>;
} = commandTable;

/** The kinds of `engineCommands`, in the order they are declared. */
export const engineCommandKinds: readonly EngineCommandKind[] = Object.keys(commandTable).filter(isEngineCommandKind);

/** True for a kind this engine knows (a newer replica may send one it does not). */
export function isEngineCommandKind(kind: string): kind is EngineCommandKind {
  return Object.hasOwn(commandTable, kind);
}

/** The context a replica seals a secret's value under for its trip through `engine_commands`. */
export function sealedSecretContext(name: string): Readonly<Record<string, string>> {
  return { purpose: 'cairn-set-secret-command', secret: name };
}

/**
 * Carries out one command on the engine that holds the writer lease, as its own process would
 * have: its payload and actor checked first (CAIRN_PAYLOAD_INVALID naming the command and the
 * JSON path), then the engine's own checks and errors (a CairnError is the replica's answer).
 * Returns the command's result as JSON.
 */
export function carryOutCommand(
  engine: Engine,
  command: { readonly kind: EngineCommandKind; readonly payload: unknown; readonly actor: unknown },
  openSealed: OpenSealed,
): Promise<JsonValue> {
  return carryOut(command.kind, command, engine, openSealed);
}

async function carryOut<Kind extends EngineCommandKind>(
  kind: Kind,
  command: { readonly payload: unknown; readonly actor: unknown },
  engine: Engine,
  openSealed: OpenSealed,
): Promise<JsonValue> {
  const definition = engineCommands[kind];
  const payload = parsePayload(definition.payload, command.payload, `The ${kind} command's payload`);
  const actor = parsePayload(definition.actor, command.actor, `The ${kind} command's actor`);
  return jsonValueOf(await definition.apply(engine, payload, actor, openSealed), `The ${kind} command's result`);
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
