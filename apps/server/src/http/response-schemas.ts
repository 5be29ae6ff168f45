import type { ItemAttemptRecord, ItemRecord, RunRecord, ScheduleRecord } from '@cairn/engine';
import { attemptStates, errorCodes, itemStates, runStates } from '@cairn/protocol';
import { z } from 'zod';
import type { HttpApp } from './http-app.ts';
import { attemptEgressViewSchema, itemEgressViewSchema } from './attempt-egress.ts';
import { attemptEnvironmentViewSchema, itemEnvironmentViewSchema } from './attempt-environment.ts';
import { itemCandidatesViewSchema } from './item-candidates.ts';
import { itemApprovalViewSchema } from './item-approvals.ts';
import { itemDeliverySchema } from '../capabilities/delivery/item-delivery.ts';

// What the API answers, declared so the OpenAPI document says it and the serializer holds every
// answer to it (an answer that does not match is a server bug, reported as one). Records are
// loose objects: the fields named here are promised; fields added later still reach clients.

/** Every error: `{ code, message, action, path?, issues? }` (see error-replies.ts). */
export const errorBodySchema = z
  .strictObject({
    code: z.enum(errorCodes),
    message: z.string(),
    action: z.string(),
    path: z.string().optional(),
    issues: z.array(z.strictObject({ path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Error', description: 'An error: its catalogue code, what was wrong, what to do, and where' });

export const submitResultSchema = z.strictObject({ runId: z.string(), created: z.boolean(), specDigest: z.string() }).meta({
  id: 'SubmitResult',
  description: 'A submitted run: its id, whether this request created it (false: an earlier one with the same Idempotency-Key did), and its spec digest',
});

/**
 * A type as an engine record holds it: arrays and fields read-only at every depth, and without the
 * `[field: string]: unknown` of loose objects (record interfaces have none; a record of values keeps its own).
 */
type ReadonlyDeep<Value> = Value extends readonly (infer Element)[]
  ? readonly ReadonlyDeep<Element>[]
  : Value extends object
    ? { readonly [Key in keyof Value as string extends Key ? (unknown extends Value[Key] ? never : Key) : Key]: ReadonlyDeep<Value[Key]> }
    : Value;

/**
 * A loose object typed as the engine record it documents: the fields named are checked and
 * documented; the record's other fields pass through untouched (a field the engine adds reaches
 * clients without this file changing). The record must have every documented field with the type
 * the shape gives it (the `Record extends` constraint checks it), so the one narrowing below only
 * forgets the loose object's index signature, which engine record interfaces cannot satisfy.
 */
export function record<Record extends ReadonlyDeep<z.output<z.ZodObject<Shape>>>, Shape extends z.core.$ZodLooseShape>(
  shape: Shape,
  meta: { id?: string; description: string },
): z.ZodType<Record> {
  const schema: z.ZodType<unknown> = z.looseObject(shape).meta(meta);
  return schema as z.ZodType<Record>;
}

/** Why an attempt (or an item) did not succeed; redacted. */
export const attemptFailureViewSchema = z
  .strictObject({
    code: z.string(),
    message: z.string(),
    exitCode: z.int().nullable(),
    signal: z.string().nullable(),
    rule: z.string().optional(),
    stderrTail: z.string(),
    mergeConflict: z
      .strictObject({ from: z.string(), position: z.int(), merged: z.array(z.string()) })
      .optional()
      .meta({
        description: "A merge's conflict (CAIRN_MERGE_CONFLICT): the runtime.from entry whose patch conflicted, its position, and the entries merged before it",
      }),
  })
  .meta({
    id: 'AttemptFailure',
    description:
      "Why it did not succeed: a catalogue code, what happened and what to do, the runtime's exit code or signal, the safety rule that refused its change (when one did), where a merge conflicted, and the last 2 KiB of its stderr, redacted",
  });

/** What model calls spent, as the gateway metered them (ADR 0033). */
export const modelSpendViewSchema = z
  .strictObject({
    calls: z.int(),
    succeeded: z.int(),
    failed: z.int(),
    denied: z.int().meta({ description: 'Calls the gateway refused (budget, quota, model not allowed): never sent' }),
    inputTokens: z.int(),
    outputTokens: z.int(),
    cacheReadTokens: z.int(),
    cacheWriteTokens: z.int(),
    costUsd: z.number().meta({ description: 'US dollars by the price table; calls whose price or usage is unknown are not in it (see unknownCost)' }),
    unknownUsage: z.int().meta({ description: 'Calls sent whose usage the provider did not report' }),
    unknownCost: z.int().meta({ description: 'Calls sent with no known cost' }),
  })
  .meta({ id: 'ModelSpend', description: "What model calls spent, from the run's model.called entries: the gateway's figures, not a provider's bill" });

// The `id`s name the document's components (`#/components/schemas/Run`, ...): generated clients
// get one type per record instead of an inlined copy per operation.
const runViewShape = {
  runId: z.string(),
  name: z.string(),
  state: z.enum(runStates),
  specDigest: z.string(),
  idempotencyKey: z.string().nullable(),
  submittedBy: z.string().meta({ description: 'The id of the actor who submitted it (a token, a person, a schedule)' }),
  submittedAt: z.string(),
  finishedAt: z.string().nullable(),
  itemsTotal: z.int(),
  itemsFinished: z.int(),
  itemsFailed: z.int(),
  itemsSucceeded: z.int().optional().meta({ description: 'GET /v1/runs only: how many of its items succeeded' }),
  itemsReused: z.int().optional().meta({ description: 'GET /v1/runs only: how many of those reused a pure result of an earlier run' }),
  priority: z.int().min(1).max(5).meta({
    description:
      "Its dispatch priority, 1 (lowest) to 5 (highest): the spec's priority or defaults.priority, else 3. Its items inherit it unless they set their own",
  }),
  failedItems: z
    .array(z.strictObject({ itemId: z.string(), failure: attemptFailureViewSchema.nullable() }))
    .optional()
    .meta({ description: 'GET /v1/runs/{runId} only, when items failed: each failed item with why it failed' }),
  spend: z
    .strictObject({ total: modelSpendViewSchema, items: z.record(z.string(), modelSpendViewSchema) })
    .optional()
    .meta({ description: 'GET /v1/runs/{runId} only, when its agents called models through the gateway: what the run and each item spent' }),
  budget: z
    .strictObject({ usd: z.number().optional(), tokens: z.int().optional() })
    .optional()
    .meta({ description: "GET /v1/runs/{runId} only, when the run has one: its budget now (the last it was raised to, else its spec's)" }),
  workspace: z
    .strictObject({
      repository: z.string().meta({ description: "The repository the spec's workspace named" }),
      ref: z.string().meta({ description: 'The branch, tag or commit it named' }),
      commit: z.string().meta({ description: 'The commit the ref named when the server fetched it: what the items ran on' }),
      snapshot: z.string().meta({ description: 'The digest of the snapshot the server stored of that commit' }),
    })
    .optional()
    .meta({ description: 'GET /v1/runs/{runId} only, when its workspace was fetched from a repository at submit' }),
};

export const runViewSchema = record<RunRecord, typeof runViewShape>(runViewShape, {
  id: 'Run',
  description: 'A run: its state and item counts (and, when items failed, why)',
});

/** A wait for global locks (`locks:` in the spec), of a ready item or before an attempt's dispatch. */
const lockWaitViewSchema = z.strictObject({
  startedAt: z.string().meta({ description: 'When a dispatch pass first found a lock it declares held by another item (or reserved by an older waiter)' }),
  locks: z.array(z.string()).meta({ description: 'The lock names it waits or waited for' }),
});

const itemViewShape = {
  runId: z.string(),
  itemId: z.string(),
  state: z.enum(itemStates),
  approvalRequired: z.boolean(),
  approval: itemApprovalViewSchema
    .optional()
    .meta({ description: 'When it waits or waited for approval: its policy, who voted, how many approvals it still needs (GET .../items, approve, reject)' }),
  readyAt: z
    .string()
    .nullable()
    .meta({ description: 'When it last became ready (or will, after a retry backoff); null while blocked, awaiting approval or parked' }),
  priority: z.int().min(1).max(5).meta({
    description:
      "Its dispatch priority, 1 (lowest) to 5 (highest): its own, else its run's. Ready items dispatch highest first, FIFO within a priority, a waiting item rising one level every priorityAgingSeconds (a server setting)",
  }),
  failure: attemptFailureViewSchema
    .nullable()
    .meta({ description: "Why the item's latest attempt failed, or why it could not be dispatched; null while nothing failed and once it succeeded" }),
  lockWait: lockWaitViewSchema.nullable().meta({
    description:
      'While it is ready but held back by a global lock another item holds: since when and for which locks; null otherwise (once dispatched, its attempt keeps the wait)',
  }),
  delivery: itemDeliverySchema.optional().meta({ description: 'GET /v1/runs/{runId}/items only, once a deliver item succeeded: what it delivered' }),
  egress: itemEgressViewSchema.optional().meta({
    description:
      "GET /v1/runs/{runId}/items only, for an item whose network is an allow-list once an attempt of it ended with a result: what that attempt's egress proxy admitted and refused, each refusal with the allow entry that would admit it",
  }),
  environment: itemEnvironmentViewSchema.optional().meta({
    description:
      'GET /v1/runs/{runId}/items only, for an item with a warm environment (ADR 0056) once an attempt of it ended with a result: the environment that attempt ran over, built or reused, its setup time, log and egress record',
  }),
  candidates: itemCandidatesViewSchema.optional().meta({
    description: 'GET /v1/runs/{runId}/items only, for a best-of-N item once it ran: its candidates side by side with their checks, and the winner (ADR 0053)',
  }),
};

export const itemViewSchema = record<ItemRecord, typeof itemViewShape>(itemViewShape, {
  id: 'Item',
  description: 'A work item of a run: its state, and why it failed when it did',
});

/** How an item adds items to its run (ADR 0034). */
const growthReasonSchema = z.enum(['planner', 'forEach', 'rerun']);

/** A page of a run's graph (`run-graph.ts`): its items, how they wait on each other, and what added them. */
export const runGraphPageSchema = z
  .strictObject({
    runId: z.string(),
    nodes: z.array(
      z
        .strictObject({
          itemId: z.string(),
          position: z.int().meta({ description: "Its place in the run: the spec's items first, then each added item in the order it was added" }),
          state: z.enum(itemStates),
          kind: z.enum(['command', 'agent', 'merge', 'deliver']).meta({ description: "Its runtime's kind" }),
          group: z.string().optional().meta({ description: 'The item that added it to the run (a planner, a forEach item, a merge), when one did' }),
          grows: growthReasonSchema.optional().meta({
            description:
              'How it adds items to the run, when it does: planner (emits), forEach (an instance per element), rerun (a merge with onConflict: rerun)',
          }),
        })
        .meta({ id: 'GraphNode', description: "An item of a run's graph" }),
    ),
    edges: z.array(
      z
        .strictObject({
          from: z.string().meta({ description: 'The prerequisite' }),
          to: z.string().meta({ description: 'The item that waits on it' }),
          kind: z.enum(['dependency', 'join']).meta({
            description:
              "dependency: named by to's spec (dependsOn, a need's from, a merge's from, a forEach's from); join: a wait the run gained as it grew, named by no spec (a fragment's last items for what depended on their planner, a forEach item's instances for what depended on it, a re-run for its merge)",
          }),
        })
        .meta({ id: 'GraphEdge', description: 'to waits on from' }),
    ),
    groups: z.array(
      z
        .strictObject({
          id: z.string().meta({ description: 'The item that added them' }),
          reason: growthReasonSchema,
          items: z.int().meta({ description: "How many of this page's nodes it added (a group may span pages: add them up)" }),
        })
        .meta({ id: 'GraphGroup', description: 'Items one item added to the run' }),
    ),
    nextCursor: z.string().optional().meta({ description: 'The cursor of the next page; absent on the last' }),
  })
  .meta({
    id: 'RunGraphPage',
    description:
      "A page of a run's graph, by position: its nodes, the edges of those nodes (a dependency on its dependent's page, a join on its prerequisite's) and the groups of its nodes",
  });

const attemptViewShape = {
  runId: z.string(),
  itemId: z.string(),
  attempt: z.int().meta({ description: 'Its number: 1 for the first' }),
  executionId: z.string(),
  state: z.enum(attemptStates),
  manifestDigest: z.string().meta({
    description:
      'The digest of its signed dispatch manifest (a DSSE envelope of cairn.manifest/v1, or, for one of several manifests a dispatch pass signed together, the manifest with its batch: docs/audit/formats.md); GET /v1/blobs/{digest} serves its exact bytes',
  }),
  exitCode: z.int().nullable().meta({ description: "The runtime's exit code once it ended; null when it was killed, never started or was lost" }),
  artifacts: z
    .record(z.string(), z.string())
    .nullable()
    .meta({ description: 'What it stored (kind → digest: patch, stdout, stderr, output), once it ended with a result' }),
  dispatchedAt: z.string(),
  finishedAt: z.string().nullable(),
  failure: attemptFailureViewSchema
    .nullable()
    .meta({ description: 'Why it did not succeed, once it ended without success; null while live and when it succeeded' }),
  lockWait: lockWaitViewSchema.nullable().meta({
    description: 'Its wait for global locks (locks: in the spec) before it was dispatched, which lasted until dispatchedAt; null when it waited for none',
  }),
  egress: attemptEgressViewSchema.optional().meta({
    description:
      'Behind a network allow-list, once it ended with a result: what its egress proxy admitted and refused, each refusal with the allow entry that would admit it; absent otherwise',
  }),
  environment: attemptEnvironmentViewSchema.optional().meta({
    description:
      'Over a warm environment (ADR 0056), once it ended with a result: which environment, whether this attempt built it or reused it, its setup time, log and egress record; absent otherwise',
  }),
};

export const attemptViewSchema = record<ItemAttemptRecord, typeof attemptViewShape>(attemptViewShape, {
  id: 'Attempt',
  description: 'One attempt of an item: when it was dispatched and ended, how, and why it did not succeed',
});

const scheduleViewShape = { scheduleId: z.string(), cron: z.string(), timeZone: z.string(), nextSlot: z.string().nullable() };

export const scheduleViewSchema = record<ScheduleRecord, typeof scheduleViewShape>(scheduleViewShape, {
  id: 'Schedule',
  description: 'A cron schedule that submits a run spec at each slot',
});

export const secretViewSchema = z
  .strictObject({ name: z.string(), version: z.int(), updatedAt: z.string(), updatedBy: z.string() })
  .meta({ id: 'Secret', description: 'A secret: its name and version (never its value)' });

/** A run page: `GET /v1/runs`. */
export const runPageSchema = z
  .strictObject({ runs: z.array(runViewSchema), nextCursor: z.string().optional() })
  .meta({ id: 'RunPage', description: 'A page of runs, newest first; nextCursor reads the next page' });

/** A token as listed: never its secret or hash. */
// Strict: a field such as secretHash can never slip into an answer.
export const tokenViewSchema = z
  .strictObject({
    id: z.string(),
    name: z.string(),
    scopes: z.array(z.string()),
    createdAt: z.string(),
    revokedAt: z.string().optional(),
    expiresAt: z.string().optional(),
    oneTime: z.literal(true).optional(),
    session: z
      .literal(true)
      .optional()
      .meta({ description: "A dashboard session, made from a sign-in link: the kind of token the dashboard's Sign out revokes" }),
    principal: z.string().meta({
      description:
        'Who the token belongs to (a person or a service; token:<id> for a token made before principals were recorded): an approval policy counts one vote per principal',
    }),
  })
  .meta({ id: 'Token', description: 'A bearer token as listed: never its secret' });

/** A webhook endpoint as listed: never its secret. */
export const webhookViewSchema = z
  .strictObject({
    webhookId: z.string(),
    url: z.string(),
    events: z.array(z.string()).readonly().nullable(),
    runId: z.string().nullable(),
    description: z.string().nullable(),
    createdAt: z.string(),
    createdBy: z.string(),
    disabledAt: z.string().nullable(),
    disabledReason: z.string().nullable(),
  })
  .meta({ id: 'Webhook', description: 'A webhook endpoint: never its secret' });

export const webhookDeliverySchema = z
  .strictObject({
    deliveryId: z.string(),
    webhookId: z.string(),
    eventId: z.int(),
    eventType: z.string(),
    status: z.enum(['pending', 'succeeded', 'failed']),
    attempts: z.int(),
    lastStatusCode: z.int().nullable(),
    lastError: z.string().nullable(),
    nextAttemptAt: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'WebhookDelivery', description: 'One delivery of an event to a webhook endpoint' });

/** A runner as `cairn runners` lists it (ADR 0050): what the lease book saw of it, and its token's name. */
export const runnerViewSchema = z
  .strictObject({
    name: z.string().meta({ description: "The runner's name: its token's actor (token:<id>)" }),
    tokenName: z.string().nullable().meta({ description: 'The name its token was made with (cairn token create --name); null when the token is not listed' }),
    tokenRevoked: z.boolean().meta({ description: 'Its token is revoked: its next poll is refused, and the runner stops' }),
    version: z.string().meta({ description: 'The version it polls with' }),
    labels: z.array(z.string()).meta({ description: "Its labels: an item runs on it when every label of the item's runsOn.labels is among them" }),
    slots: z.int().meta({ description: 'Attempts it could start, as of its last poll (0 while it drains)' }),
    held: z.int().meta({ description: 'Attempts it holds now' }),
    lastSeen: z.string().meta({ description: 'When it last polled' }),
    state: z.enum(['connected', 'lost']).meta({
      description:
        'connected: waiting in a poll, or polled within the lease time (runners.leaseSeconds); lost: it has not, and the attempts it held were recorded lost',
    }),
    draining: z.boolean().meta({ description: 'Drained by an operator: given no new attempts until resumed' }),
  })
  .meta({ id: 'Runner', description: 'A runner that polled this server since it started' });

/**
 * An answer that is not a JSON document (a patch, a blob, an event stream, metrics, NDJSON): its
 * media type and what it holds. Fastify sends such payloads as they are, never through a serializer.
 */
export function bytesAnswer(mediaType: string, description: string) {
  // Typed as what routes send (bytes, a stream), which is never serialized; documented as a string
  // (a custom schema is drawn from its metadata alone).
  const schema = z.custom<string | Uint8Array | NodeJS.ReadableStream>().meta({ type: 'string', description });
  return { description, content: { [mediaType]: { schema } } };
}

/** A 204: no body. */
export const noContentSchema = z.null().meta({ description: 'No content' });

/**
 * Declares the error body for the 4xx and 5xx answers of every route registered after it (an
 * `onRoute` hook, so no route can forget it); routes declare their own success answers.
 */
export function declareErrorResponses(app: HttpApp): void {
  app.addHook('onRoute', (route) => {
    const schema = (route.schema ?? {}) as { response?: Record<string, unknown> };
    route.schema = { ...schema, response: { '4xx': errorBodySchema, '5xx': errorBodySchema, ...schema.response } };
  });
}
