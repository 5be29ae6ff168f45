import type { EngineService, ItemAttemptRecord } from '@cairn/engine';
import { z } from 'zod';

const egressRefusalViewSchema = z
  .strictObject({
    host: z.string().meta({ description: 'The host it asked for, as the client named it (lower-cased)' }),
    port: z.int(),
    reason: z.string().meta({
      description:
        'Why: not-allowed (no allow entry matches), denied (executor.network.deny), ip-literal, invalid-host, address-forbidden (the name resolves to a private, loopback or link-local address), resolution-failed, bad-request, not-tls, no-sni, sni-mismatch, credential-needs-tls, placeholder-elsewhere (a credential placeholder sent to a host it is not bound to), connection-limit, byte-limit (executor.network.limits), upstream-failed',
    }),
    wouldAdmit: z.string().nullable().meta({
      description:
        "The entry that, added to the item's network.allow, would admit it (registry.npmjs.org, or host:port for another port than 443 and 80); null when no entry could (an address, a denied or forbidden host, a protocol refusal, a limit)",
    }),
  })
  .meta({ id: 'EgressRefusal', description: 'One connection the egress proxy of an allow-listed attempt refused or cut' });

const egressSummaryShape = {
  allowed: z.int().min(0).meta({ description: 'Connections (tunnels and plain requests) the proxy admitted' }),
  refused: z.int().min(0).meta({ description: 'Connections it refused or cut' }),
  refusals: z
    .array(egressRefusalViewSchema)
    .meta({ description: 'The first refusals (twenty at most); the egress artifact (a digest in artifacts) records every connection' }),
  flagged: z
    .int()
    .min(0)
    .meta({ description: 'How many times the proxy saw a credential placeholder sent to a host it is not bound to (the result record names them)' }),
};

/** An allow-listed attempt's egress, as its `attempt.completed` audit entry records it (ADR 0049). */
export const attemptEgressViewSchema = z.strictObject(egressSummaryShape).meta({
  id: 'AttemptEgress',
  description:
    'What the egress proxy of an allow-listed attempt (network: { allow: [...] }) admitted and refused, as its attempt.completed audit entry records it; each refusal with the allow entry that would admit it',
});

/** An item's latest ended allow-listed attempt's egress, with that attempt's number. */
export const itemEgressViewSchema = z
  .strictObject({ attempt: z.int().min(1).meta({ description: 'The attempt it is of: the latest that ended with a result' }), ...egressSummaryShape })
  .meta({
    id: 'ItemEgress',
    description: "What the egress proxy of the item's latest allow-listed attempt that ended with a result admitted and refused (see AttemptEgress)",
  });

export type AttemptEgressView = z.output<typeof attemptEgressViewSchema>;
export type ItemEgressView = z.output<typeof itemEgressViewSchema>;
export type EgressRefusalView = z.output<typeof egressRefusalViewSchema>;

/** The `egress` of an `attempt.completed` entry's data, read as the log holds it (see `egressOf` in the engine). */
const entryEgressSchema = z.object({
  allowed: z.int().min(0),
  refused: z.int().min(0),
  refusals: z.array(z.object({ host: z.string(), port: z.int(), reason: z.string(), wouldAdmit: z.string().nullable() })),
  flagged: z.int().min(0),
});

const entryDataSchema = z.object({ itemId: z.string(), attempt: z.int().min(1), egress: entryEgressSchema });

/** Item states in which no attempt has ended yet. */
const neverRan = new Set(['blocked', 'awaiting-approval', 'skipped']);

/**
 * An item's attempts, each that ran behind an egress proxy with its `egress`. Only an attempt that
 * stored an egress record (`artifacts.egress`) has one, so the audit log is read only for those:
 * the run's `attempt.completed` entries, from the first such attempt's dispatch on.
 */
export async function withAttemptEgress(
  service: Pick<EngineService, 'auditEntries'>,
  runId: string,
  attempts: readonly ItemAttemptRecord[],
): Promise<(ItemAttemptRecord | (ItemAttemptRecord & { readonly egress: AttemptEgressView }))[]> {
  const proxied = attempts.filter((attempt) => attempt.artifacts?.['egress'] !== undefined);
  if (proxied.length === 0) return [...attempts];
  const wanted = new Set(proxied.map((attempt) => attempt.executionId));
  const found = new Map<string, AttemptEgressView>();
  for await (const entry of service.auditEntries({ runId, action: 'attempt.completed', since: proxied[0]!.dispatchedAt })) {
    if (!wanted.has(entry.entity.id)) continue;
    const data = entryDataSchema.safeParse(entry.data);
    if (data.success) found.set(entry.entity.id, data.data.egress);
    if (found.size === wanted.size) break;
  }
  return attempts.map((attempt) => {
    const egress = found.get(attempt.executionId);
    return egress === undefined ? attempt : { ...attempt, egress };
  });
}

/**
 * The run's items, each allow-listed one that ended an attempt with its latest such attempt's
 * `egress`. Allow-listed items are found in the run's spec (an item's `network`, else the
 * defaults'), and, for items a planner added, in their specs as they run; a run with none reads no
 * audit entry, so a listing clients poll costs nothing more for the runs without allow-lists.
 */
export async function withItemEgress<Item extends { readonly itemId: string; readonly state: string }>(
  service: Pick<EngineService, 'spec' | 'graphItems' | 'auditEntries'>,
  runId: string,
  items: readonly Item[],
): Promise<(Item | (Item & { readonly egress: ItemEgressView }))[]> {
  const ran = items.filter((item) => !neverRan.has(item.state)).map((item) => item.itemId);
  if (ran.length === 0) return [...items];
  const spec = await service.spec(runId);
  const allowListed = (network: unknown) => typeof network === 'object' && network !== null;
  const written = new Map((spec?.items ?? []).map((item) => [item.id, allowListed(item.network ?? spec?.defaults?.network)]));
  const added = ran.filter((itemId) => !written.has(itemId));
  const addedAllowListed =
    added.length === 0 ? [] : (await service.graphItems(runId, { itemIds: added })).filter((item) => allowListed(item.spec.network)).map((item) => item.itemId);
  const proxied = new Set([...ran.filter((itemId) => written.get(itemId) === true), ...addedAllowListed]);
  if (proxied.size === 0) return [...items];
  const latest = new Map<string, ItemEgressView>();
  for await (const entry of service.auditEntries({ runId, action: 'attempt.completed' })) {
    const data = entryDataSchema.safeParse(entry.data);
    if (!data.success || !proxied.has(data.data.itemId)) continue;
    // Entries come in log order: a later attempt's replaces an earlier one's.
    latest.set(data.data.itemId, { attempt: data.data.attempt, ...data.data.egress });
  }
  return items.map((item) => {
    const egress = latest.get(item.itemId);
    return egress === undefined ? item : { ...item, egress };
  });
}
