import type { EngineService, ItemAttemptRecord } from '@cairn/engine';
import { z } from 'zod';

const digestPattern = /^sha256:[0-9a-f]{64}$/;

const environmentShape = {
  digest: z.string().meta({ description: "The environment's digest: its key (the key files' contents, the setup argv, the base)" }),
  built: z
    .boolean()
    .meta({ description: 'true when this attempt ran the setup (the host had no layer of the key); false when it reused a layer built before' }),
  setupMs: z.int().min(0).meta({ description: 'How long the setup took, in milliseconds, for whichever attempt ran it' }),
  log: z.string().meta({ description: "The digest of the setup's log (the environmentLog artifact); GET /v1/blobs/{digest} serves it" }),
  egress: z.string().optional().meta({
    description:
      "The digest of the setup's egress record (NDJSON, one connection a line: the environmentEgress artifact), when it ran behind the item's allow-list; GET /v1/blobs/{digest} serves it",
  }),
};

/** The warm environment an attempt ran over (ADR 0056), as its `attempt.completed` audit entry records it. */
export const attemptEnvironmentViewSchema = z.strictObject(environmentShape).meta({
  id: 'AttemptEnvironment',
  description:
    "The warm environment (ADR 0056) the attempt's workspace was laid over: which one, whether this attempt built it or reused it, how long its setup took, and its setup's log and egress record",
});

/** An item's latest ended attempt's environment, with that attempt's number. */
export const itemEnvironmentViewSchema = z
  .strictObject({ attempt: z.int().min(1).meta({ description: 'The attempt it is of: the latest that ended with a result' }), ...environmentShape })
  .meta({ id: 'ItemEnvironment', description: "The warm environment the item's latest attempt that ended with a result ran over (see AttemptEnvironment)" });

export type AttemptEnvironmentView = z.output<typeof attemptEnvironmentViewSchema>;
export type ItemEnvironmentView = z.output<typeof itemEnvironmentViewSchema>;

/** An `attempt.completed` entry's data as the engine logs it: `environment` (see `environmentOf`) and the artifacts naming its log. */
const entryDataSchema = z.object({
  itemId: z.string(),
  attempt: z.int().min(1),
  environment: z.object({ digest: z.string(), built: z.boolean(), setupMs: z.number().min(0) }),
  artifacts: z.object({ environmentLog: z.string().regex(digestPattern), environmentEgress: z.string().regex(digestPattern).optional() }),
});

function viewOf(data: z.output<typeof entryDataSchema>): AttemptEnvironmentView {
  const { environment, artifacts } = data;
  return {
    digest: environment.digest,
    built: environment.built,
    setupMs: Math.round(environment.setupMs),
    log: artifacts.environmentLog,
    ...(artifacts.environmentEgress === undefined ? {} : { egress: artifacts.environmentEgress }),
  };
}

/** Item states in which no attempt has ended yet. */
const neverRan = new Set(['blocked', 'awaiting-approval', 'skipped']);

/**
 * An item's attempts, each that ran over a warm environment with its `environment`. Only an attempt
 * whose result named a setup log (`artifacts.environmentLog`) ran over one, so the audit log is
 * read only for those: the run's `attempt.completed` entries, from the first such attempt's dispatch on.
 */
export async function withAttemptEnvironment<Attempt extends ItemAttemptRecord>(
  service: Pick<EngineService, 'auditEntries'>,
  runId: string,
  attempts: readonly Attempt[],
): Promise<(Attempt | (Attempt & { readonly environment: AttemptEnvironmentView }))[]> {
  const laid = attempts.filter((attempt) => attempt.artifacts?.['environmentLog'] !== undefined);
  if (laid.length === 0) return [...attempts];
  const wanted = new Set(laid.map((attempt) => attempt.executionId));
  const found = new Map<string, AttemptEnvironmentView>();
  for await (const entry of service.auditEntries({ runId, action: 'attempt.completed', since: laid[0]!.dispatchedAt })) {
    if (!wanted.has(entry.entity.id)) continue;
    const data = entryDataSchema.safeParse(entry.data);
    if (data.success) found.set(entry.entity.id, viewOf(data.data));
    if (found.size === wanted.size) break;
  }
  return attempts.map((attempt) => {
    const environment = found.get(attempt.executionId);
    return environment === undefined ? attempt : { ...attempt, environment };
  });
}

/**
 * The run's items, each with an environment that ended an attempt with its latest such attempt's
 * `environment`. Items with one are found in the run's spec (an item's `environment`, else the
 * defaults'), and, for items a planner added, in their specs as they run; a run with none reads no
 * audit entry, so a listing clients poll costs nothing more for runs without environments.
 */
export async function withItemEnvironment<Item extends { readonly itemId: string; readonly state: string }>(
  service: Pick<EngineService, 'spec' | 'graphItems' | 'auditEntries'>,
  runId: string,
  items: readonly Item[],
): Promise<(Item | (Item & { readonly environment: ItemEnvironmentView }))[]> {
  const ran = items.filter((item) => !neverRan.has(item.state)).map((item) => item.itemId);
  if (ran.length === 0) return [...items];
  const spec = await service.spec(runId);
  const written = new Map((spec?.items ?? []).map((item) => [item.id, (item.environment ?? spec?.defaults?.environment) !== undefined]));
  const added = ran.filter((itemId) => !written.has(itemId));
  const addedLaid =
    added.length === 0
      ? []
      : (await service.graphItems(runId, { itemIds: added })).filter((item) => item.spec.environment !== undefined).map((item) => item.itemId);
  const laid = new Set([...ran.filter((itemId) => written.get(itemId) === true), ...addedLaid]);
  if (laid.size === 0) return [...items];
  const latest = new Map<string, ItemEnvironmentView>();
  for await (const entry of service.auditEntries({ runId, action: 'attempt.completed' })) {
    const data = entryDataSchema.safeParse(entry.data);
    if (!data.success || !laid.has(data.data.itemId)) continue;
    // Entries come in log order: a later attempt's replaces an earlier one's.
    latest.set(data.data.itemId, { attempt: data.data.attempt, ...viewOf(data.data) });
  }
  return items.map((item) => {
    const environment = latest.get(item.itemId);
    return environment === undefined ? item : { ...item, environment };
  });
}
