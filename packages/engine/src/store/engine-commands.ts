import type { AuditActor, BudgetSpec, EvidenceBundleV1, JsonValue } from '@cairn/core';
import { auditActorSchema, budgetSpecSchema, cipherEnvelopeSchema, evidenceBundleSchema, parsePayload } from '@cairn/protocol';
import { z } from 'zod';
import type { Engine } from '../engine.ts';
import { hostAuditRecordSchema, type HostAuditRecord } from '../host-audit/host-audit-record.ts';
import type { ScheduleDefinition } from '../schedules/schedule-book.ts';
import type { LapsedApproval, Voter } from '../state/approval-votes.ts';
import type { SubmitOptions } from '../state/run-state-machine.ts';
import type { ArgumentsOf, CommandMethods } from './commands/command-methods.ts';
import { engineCommand, serviceCommand, type EngineCommand, type OpenSealed, type ServiceCommand } from './commands/engine-command.ts';
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
// The roles and groups of a person voting under an approval policy (ADR 0041), who they are, who
// submitted the run, and the approvals that no longer count (ADR 0046).
const voter = z
  .strictObject({
    roles: z.array(z.string()),
    groups: z.array(z.string()),
    principal: z.string().exactOptional(),
    submitterPrincipal: z.string().exactOptional(),
    lapsed: z.array(z.strictObject({ principal: z.string(), reason: z.string() })).exactOptional(),
  })
  .exactOptional();
/** A bundle's arrays are read-only to whoever receives one. */
const bundleSchema: z.ZodType<EvidenceBundleV1> = evidenceBundleSchema;

/** What a command that answers nothing answers: `null` on the wire, nothing to its caller. */
const nothing: z.ZodType<void> = z.null().transform((): void => undefined);

/**
 * The commands that are `EngineService` methods (see `ServiceCommand`): each entry's TSDoc is its
 * method's. `call` is the engine's method in its own process, `request` what a replica sends, and
 * `apply` how the leader carries that out.
 */
const serviceCommandTable = {
  /** Validates and stores a run; rejects with the spec's CairnError (CAIRN_SPEC_INVALID, ...). */
  submit: serviceCommand({
    payload: z.strictObject({ document: z.unknown(), options: submitOptionsSchema }),
    actor: auditedAs,
    result: submitResultSchema,
    call: (engine: Engine, document: unknown, options: SubmitOptions) => engine.submit(document, options),
    // What the server knows exists (`context`) stays behind: the leader knows it itself.
    request: (_seal, document, { actor, context: _context, ...options }) => ({ payload: { document, options }, actor }),
    apply: (engine, { document, options }, actor) => engine.submit(document, { ...options, actor }),
    // A keyed submission sent twice makes one run: the engine answers the second with the first's.
    resendWhenUnknown: ({ document, options }) => options.idempotencyKey !== undefined || idempotencyKeyOf(document) !== undefined,
  }),
  /**
   * Approves an item awaiting approval. Under an approval policy (ADR 0041) it is the actor's vote:
   * `voter` is what the authorizer knows of them (roles, groups), checked against the policy's
   * `from`; a vote the policy does not count is CAIRN_APPROVAL_NOT_ALLOWED, a second one
   * CAIRN_APPROVAL_DUPLICATE.
   */
  approve: serviceCommand({
    payload: z.strictObject({ runId: z.string(), itemId: z.string(), reason, voter }),
    actor: auditedAs,
    result: nothing,
    call: (engine: Engine, runId: string, itemId: string, actor: AuditActor, reason?: string, voter?: Voter) =>
      engine.approve(runId, itemId, actor, reason, voter),
    request: (_seal, runId, itemId, actor, reason, voter) => ({
      payload: { runId, itemId, ...(reason === undefined ? {} : { reason }), ...voterPayload(voter) },
      actor,
    }),
    apply: (engine, { runId, itemId, reason, voter }, actor) => engine.approve(runId, itemId, actor, reason, voter),
  }),
  /** Rejects an item awaiting approval (it fails); under an approval policy a vote that needs a reason. */
  reject: serviceCommand({
    payload: z.strictObject({ runId: z.string(), itemId: z.string(), reason, voter }),
    actor: auditedAs,
    result: nothing,
    call: (engine: Engine, runId: string, itemId: string, actor: AuditActor, reason?: string, voter?: Voter) =>
      engine.reject(runId, itemId, actor, reason, voter),
    request: (_seal, runId, itemId, actor, reason, voter) => ({
      payload: { runId, itemId, ...(reason === undefined ? {} : { reason }), ...voterPayload(voter) },
      actor,
    }),
    apply: (engine, { runId, itemId, reason, voter }, actor) => engine.reject(runId, itemId, actor, reason, voter),
  }),
  /**
   * A principal's access to approve ended (the host revoked their last token granting it, ADR
   * 0046): their approvals of items not yet started are dropped, each audited with `reason`
   * ("access revoked at <time>"), and a ready item left short of `required` waits for approval
   * again. `rolesKept`: the principal still approves with the `role:`s of these (another live
   * token): only approvals under a policy whose `from` names none of them lapse. Answers how many
   * items lost an approval.
   */
  'lapse-approvals': serviceCommand({
    payload: z.strictObject({ principal: z.string(), reason: z.string(), rolesKept: z.array(z.string()).exactOptional() }),
    actor: auditedAs,
    result: z.int().min(0),
    call: (engine: Engine, principal: string, reason: string, actor: AuditActor, rolesKept?: readonly string[]) =>
      engine.lapseApprovals(principal, reason, actor, rolesKept),
    request: (_seal, principal, reason, actor, rolesKept) => ({
      payload: { principal, reason, ...(rolesKept === undefined ? {} : { rolesKept: [...rolesKept] }) },
      actor,
    }),
    apply: (engine, { principal, reason, rolesKept }, actor) => engine.lapseApprovals(principal, reason, actor, rolesKept),
    // Sent twice, the second finds no approval of theirs left to drop: the same state, answered 0.
    resendWhenUnknown: () => true,
  }),
  /** Gives a run a new budget; a run awaiting one (`awaiting-budget`) runs again. */
  'raise-budget': serviceCommand({
    payload: z.strictObject({ runId: z.string(), budget: budgetSpecSchema, reason: z.string() }),
    actor: auditedAs,
    result: nothing,
    call: (engine: Engine, runId: string, budget: BudgetSpec, actor: AuditActor, reason: string) => engine.raiseBudget(runId, budget, actor, reason),
    request: (_seal, runId, budget, actor, reason) => ({ payload: { runId, budget: { ...budget }, reason }, actor }),
    apply: (engine, { runId, budget, reason }, actor) => engine.raiseBudget(runId, budget, actor, reason),
  }),
  /** Cancels a run: what has not started at once, running tasks through their executors. */
  'cancel-run': serviceCommand({
    payload: z.strictObject({ runId: z.string(), reason }),
    actor: auditedAs,
    result: nothing,
    call: (engine: Engine, runId: string, actor: AuditActor, reason?: string) => engine.cancelRun(runId, actor, reason),
    request: (_seal, runId, actor, reason) => ({ payload: { runId, ...(reason === undefined ? {} : { reason }) }, actor }),
    apply: (engine, { runId, reason }, actor) => engine.cancelRun(runId, actor, reason),
  }),
  /** Cancels one item (a running one through its executor); its dependents are skipped. */
  'cancel-item': serviceCommand({
    payload: z.strictObject({ runId: z.string(), itemId: z.string(), reason }),
    actor: auditedAs,
    result: nothing,
    call: (engine: Engine, runId: string, itemId: string, actor: AuditActor, reason?: string) => engine.cancelItem(runId, itemId, actor, reason),
    request: (_seal, runId, itemId, actor, reason) => ({ payload: { runId, itemId, ...(reason === undefined ? {} : { reason }) }, actor }),
    apply: (engine, { runId, itemId, reason }, actor) => engine.cancelItem(runId, itemId, actor, reason),
  }),
  /** Adds a cron schedule whose slots submit `definition.spec` as runs. */
  'add-schedule': serviceCommand({
    payload: z.strictObject({ definition: scheduleDefinitionSchema }),
    actor: auditedAs,
    result: scheduleRecordSchema,
    call: (engine: Engine, definition: ScheduleDefinition, actor: AuditActor) => engine.addSchedule(definition, actor),
    request: (_seal, definition, actor) => ({ payload: { definition }, actor }),
    apply: (engine, { definition }, actor) => engine.addSchedule(definition, actor),
  }),
  'remove-schedule': serviceCommand({
    payload: z.strictObject({ scheduleId: z.string() }),
    actor: auditedAs,
    result: nothing,
    call: (engine: Engine, scheduleId: string, actor: AuditActor) => engine.removeSchedule(scheduleId, actor),
    request: (_seal, scheduleId, actor) => ({ payload: { scheduleId }, actor }),
    apply: (engine, { scheduleId }, actor) => engine.removeSchedule(scheduleId, actor),
  }),
  /**
   * Sets a secret (encrypted with the deployment's cipher); answers its name and new version. A
   * replica seals the value for its trip (`sealedSecretContext`): it never reaches the database in clear.
   */
  'set-secret': serviceCommand({
    payload: z.strictObject({ name: z.string(), sealed: cipherEnvelopeSchema }),
    actor: auditedAs,
    result: secretRecordSchema,
    call: (engine: Engine, name: string, value: string, actor: AuditActor) => engine.setSecret(name, value, actor),
    request: async (seal, name, value, actor) => ({ payload: { name, sealed: await seal(new TextEncoder().encode(value), sealedSecretContext(name)) }, actor }),
    apply: async (engine, { name, sealed }, actor, openSealed) =>
      engine.setSecret(name, new TextDecoder().decode(await openSealed(sealed, sealedSecretContext(name))), actor),
  }),
  'remove-secret': serviceCommand({
    payload: z.strictObject({ name: z.string() }),
    actor: auditedAs,
    result: nothing,
    call: (engine: Engine, name: string, actor: AuditActor) => engine.removeSecret(name, actor),
    request: (_seal, name, actor) => ({ payload: { name }, actor }),
    apply: (engine, { name }, actor) => engine.removeSecret(name, actor),
  }),
};

const commandTable = {
  ...serviceCommandTable,
  // Sent by the services' own members, not methods of their own.
  /**
   * An entry the host owns (access, tokens, webhooks), sent as its record's actor. The record is
   * checked as the engine's host writer checks it in its own process, with the same error.
   */
  'host-audit': engineCommand({
    payload: z.strictObject({ record: z.unknown() }),
    actor: auditedAs,
    result: nothing,
    apply: (engine, { record }) => appendHostRecord(engine, parsePayload(hostAuditRecordSchema, record, 'The host audit record')),
  }),
  /** A run's evidence bundle, made where the state is in memory (the leader's working copy). */
  'export-bundle': engineCommand({
    payload: z.strictObject({ runId: z.string() }),
    actor: noActor,
    result: bundleSchema,
    apply: (engine, { runId }) => engine.exportBundle(runId),
  }),
};

type CommandTable = typeof commandTable;
type ServiceCommandTable = typeof serviceCommandTable;

/** What a replica asks of the engine that holds the writer lease. */
export type EngineCommandKind = keyof CommandTable;
/** The commands that are `EngineService` methods. */
export type ServiceCommandKind = keyof ServiceCommandTable;

/** What each command carries, beside its actor. */
export type EngineCommandPayloads = { readonly [Kind in EngineCommandKind]: z.output<CommandTable[Kind]['payload']> };
/** Who each command is audited as (`null`: sent without an actor). */
export type EngineCommandActors = { readonly [Kind in EngineCommandKind]: z.output<CommandTable[Kind]['actor']> };
/** What each command answers. */
export type EngineCommandResults = { readonly [Kind in EngineCommandKind]: z.output<CommandTable[Kind]['result']> };
/** The arguments of each service command's method. */
export type ServiceCommandArguments = { readonly [Kind in ServiceCommandKind]: ArgumentsOf<ServiceCommandTable[Kind]> };

/** `EngineService`'s command methods, derived from the table: `cancelRun(runId, actor, reason?)` from `cancel-run`. */
export type EngineCommandMethods = CommandMethods<ServiceCommandTable>;

/**
 * Every command a replica may send, declared once (ADR 0023): how its payload, actor and result
 * are checked where they arrive, and how it is carried out on the engine that holds the writer
 * lease. The carrying out and the replica's sending are derived from it.
 */
export const engineCommands: {
  readonly [Kind in EngineCommandKind]: EngineCommand<EngineCommandPayloads[Kind], EngineCommandActors[Kind], EngineCommandResults[Kind]>;
} = commandTable;

/** The service commands, typed so that a generic dispatch reads each entry at its own kind. */
export const serviceCommands: {
  readonly [Kind in ServiceCommandKind]: ServiceCommand<
    EngineCommandPayloads[Kind],
    EngineCommandActors[Kind],
    EngineCommandResults[Kind],
    ServiceCommandArguments[Kind]
  >;
} = serviceCommandTable;

/** The kinds of `engineCommands`, in the order they are declared. */
export const engineCommandKinds: readonly EngineCommandKind[] = Object.keys(commandTable).filter(isEngineCommandKind);

/** The kinds of `serviceCommands`, in the order they are declared. */
export const serviceCommandKinds: readonly ServiceCommandKind[] = engineCommandKinds.filter(isServiceCommandKind);

function isServiceCommandKind(kind: string): kind is ServiceCommandKind {
  return Object.hasOwn(serviceCommandTable, kind);
}

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
  return commandAnswerJson(kind, await definition.apply(engine, payload, actor, openSealed));
}

/** A command's result as the JSON it answers with: `null` for one that answers nothing. */
export function commandAnswerJson(kind: EngineCommandKind, result: unknown): JsonValue {
  return jsonValueOf(result === undefined ? null : result, `The ${kind} command's result`);
}

// What the leader needs of a voter to check an approval policy: their roles and groups, who they
// are and who submitted the run (ADR 0046), and the approvals that lapsed, when known.
function voterPayload(voter: Voter | undefined): {
  voter?: { roles: string[]; groups: string[]; principal?: string; submitterPrincipal?: string; lapsed?: LapsedApproval[] };
} {
  if (voter === undefined) return {};
  return {
    voter: {
      roles: [...(voter.roles ?? [])],
      groups: [...(voter.groups ?? [])],
      ...(voter.principal === undefined ? {} : { principal: voter.principal }),
      ...(voter.submitterPrincipal === undefined ? {} : { submitterPrincipal: voter.submitterPrincipal }),
      ...(voter.lapsed === undefined ? {} : { lapsed: voter.lapsed.map(({ principal, reason }) => ({ principal, reason })) }),
    },
  };
}

// A document's own idempotency key, when it is an object that has one.
function idempotencyKeyOf(document: unknown): unknown {
  return typeof document === 'object' && document !== null && 'idempotencyKey' in document ? document.idempotencyKey : undefined;
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
