import type { AuditActor, Digest, ItemSpec, RunSpecV1 } from '@cairn/core';
import {
  assertRunSpec,
  assertTransition,
  CairnError,
  canonicalJson,
  itemTransitions,
  needsApproval,
  parseRunSpec,
  priorityLevels,
  type RunSpecContext,
} from '@cairn/protocol';
import type { AuditLog } from '../audit/audit-log.ts';
import type { NewItem } from '../store/sqlite/new-item-insert.ts';

export interface SubmitOptions {
  /** Who submits, and through which surface; recorded in the audit log. */
  readonly actor: AuditActor;
  /** Overrides the spec's own `idempotencyKey`. */
  readonly idempotencyKey?: string;
  /** What the server knows exists (executors, queues, adapters, secrets), for validation. */
  readonly context?: RunSpecContext;
  /** Where the spec came from (a file name), for error messages. */
  readonly source?: string;
  /**
   * The run's id, when the caller names it (a schedule's slot is `<scheduleId>@<slot time>`); a
   * new unique one otherwise. An id already taken by a run with another spec is refused.
   */
  readonly runId?: string;
  /**
   * The secrets the submitter may hand to its run's items: `all`, or names. An item naming another
   * is refused (CAIRN_FORBIDDEN) before anything is stored. The engine trusts its caller to say
   * what the submitter holds: the reference server passes each token's `secrets:use:` grants, the
   * inbox none. Omitted, the caller is trusted with every secret (a program composing its own
   * engine holds its own secrets).
   */
  readonly secretGrants?: 'all' | readonly string[];
}

export interface SubmitResult {
  readonly runId: string;
  /** False when the idempotency key returned an existing run. */
  readonly created: boolean;
  readonly specDigest: Digest;
}

/** Items a submit builds the rows of at a time (see `insertItemRows`). */
const submitSlice = 1_024;

/** A submission checked before anything is stored: its spec, digest and canonical text, and its idempotency key (null for none). */
export interface CheckedSubmission {
  readonly spec: RunSpecV1;
  readonly digest: Digest;
  readonly canonical: string;
  readonly idempotencyKey: string | null;
}

/**
 * Parses (YAML/JSON text) and validates a submitted spec against what exists, and takes its one
 * idempotency key: the option's or the spec's, refused when both are given and differ.
 */
export function checkedSubmission(document: unknown, options: SubmitOptions): CheckedSubmission {
  const parsed = typeof document === 'string' ? parseRunSpec(document, options.source === undefined ? {} : { source: options.source }) : document;
  const { spec, digest, canonical } = assertRunSpec(parsed, {
    ...(options.source === undefined ? {} : { source: options.source }),
    ...(options.context ? { context: options.context } : {}),
  });
  if (options.idempotencyKey !== undefined && spec.idempotencyKey !== undefined && options.idempotencyKey !== spec.idempotencyKey) {
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `Two idempotency keys for one submission: ${JSON.stringify(options.idempotencyKey)} given with it (the Idempotency-Key header) and ${JSON.stringify(spec.idempotencyKey)} in the spec ($.idempotencyKey). Give one, or the same in both.`,
      {
        path: '$.idempotencyKey',
        details: { given: options.idempotencyKey, spec: spec.idempotencyKey },
        action: `Send one key: drop the Idempotency-Key header (${JSON.stringify(options.idempotencyKey)}) or $.idempotencyKey (${JSON.stringify(spec.idempotencyKey)}), or make them equal.`,
      },
    );
  }
  // The server fetches a repository's workspace before the spec reaches the engine (and fills in
  // its commit and snapshot): one that arrives unfetched would run over an empty folder.
  if (spec.workspace?.repository !== undefined && spec.workspace.snapshot === undefined) {
    throw new CairnError(
      'CAIRN_RUN_SPEC_INVALID',
      `$.workspace.repository names ${spec.workspace.repository}, which was not fetched: a workspace from a repository is fetched by the server when a run is submitted to it (POST /v1/runs, a template, a trigger), and this submission did not go through one. Upload a snapshot of the repository instead (workspace.snapshot).`,
      { path: '$.workspace.repository' },
    );
  }
  return { spec, digest, canonical, idempotencyKey: options.idempotencyKey ?? spec.idempotencyKey ?? null };
}

/** What a run's workspace fetched from a repository was, as its submission's audit entry records it. */
export function fetchedWorkspace(workspace: NonNullable<RunSpecV1['workspace']>): { repository: string; ref: string; commit: string; snapshot: string } {
  return { repository: workspace.repository ?? '', ref: workspace.ref ?? '', commit: workspace.commit ?? '', snapshot: workspace.snapshot ?? '' };
}

/**
 * The secrets the run's items name, each checked against the submitter's grants; the first one
 * not granted is refused (audited in `audit` as a denied access) with its JSON path and the grant to ask for.
 */
export function grantedSecrets(spec: RunSpecV1, options: SubmitOptions, audit: AuditLog): string[] {
  const grants = options.secretGrants ?? 'all';
  const named = new Set<string>();
  // Indexed loops: this runs over every item of every submission, most of which name no secret.
  for (let index = 0; index < spec.items.length; index++) {
    const item = spec.items[index]!;
    const itemSecrets = item.secrets;
    if (itemSecrets === undefined) continue;
    for (let position = 0; position < itemSecrets.length; position++) {
      const secret = itemSecrets[position]!;
      named.add(secret);
      if (grants === 'all' || grants.includes(secret)) continue;
      const message = `${options.actor.id} may not hand secret ${secret} to a run (item ${JSON.stringify(item.id)}): it holds no grant for it. An admin can give one: a token with scope secrets:use:${secret} (\`cairn token create --scope runs:submit secrets:use:${secret}\`).`;
      audit.append({
        actor: options.actor,
        action: 'access.denied',
        entity: { kind: 'server', id: 'secrets' },
        outcome: 'denied',
        data: { action: 'secrets.use', secret, reason: 'no grant' },
      });
      throw new CairnError('CAIRN_FORBIDDEN', message, {
        path: `$.items[${index}].secrets[${position}]`,
        details: { secret, grant: `secrets:use:${secret}` },
      });
    }
  }
  return [...named].sort();
}

/**
 * Builds the item rows of a new run and hands them to `insert` a slice at a time (a submit of
 * 100,000 items holds one slice of rows), each item with the run's defaults applied. An item with
 * no prerequisites that needs no approval is inserted `ready` (the transition checked as the state
 * machine checks it), so its row is written once. Returns the positions of the items with no
 * prerequisites, which the caller releases.
 */
export function insertItemRows(
  spec: RunSpecV1,
  run: { readonly runId: string; readonly readyAt: string; readonly defaultExecutor: string },
  insert: (rows: NewItem[]) => void,
): number[] {
  const rootPositions: number[] = [];
  for (let start = 0; start < spec.items.length; start += submitSlice) {
    const rows: NewItem[] = [];
    for (let position = start; position < Math.min(start + submitSlice, spec.items.length); position++) {
      const item = spec.items[position]!;
      const effective = withDefaults(spec, item);
      const waitingOn = prerequisitesOf(item).length;
      const approvalRequired = needsApproval(item.approval);
      const releasedReady = waitingOn === 0 && !approvalRequired;
      if (releasedReady) assertTransition(itemTransitions, 'blocked', 'ready', `item ${item.id} of run ${run.runId}`);
      if (waitingOn === 0) rootPositions.push(position);
      rows.push({
        runId: run.runId,
        itemId: item.id,
        position,
        state: releasedReady ? 'ready' : 'blocked',
        readyAt: releasedReady ? run.readyAt : null,
        waitingOn,
        approvalRequired,
        spec: canonicalJson(effective),
        executor: effective.executor ?? run.defaultExecutor,
        priority: effective.priority ?? priorityLevels.default,
      });
    }
    insert(rows);
  }
  return rootPositions;
}

/** The run's dependency edges, each a prerequisite and the item that waits for it. */
export function itemEdges(spec: RunSpecV1): [prerequisite: string, dependent: string][] {
  const edges: [prerequisite: string, dependent: string][] = [];
  for (const item of spec.items) for (const prerequisite of prerequisitesOf(item)) edges.push([prerequisite, item.id]);
  return edges;
}

/**
 * The item with the run's defaults filled in where it sets nothing itself; the run's priority
 * (`priority` or `defaults.priority`, a spec has at most one) is one of them.
 */
export function withDefaults(spec: RunSpecV1, item: ItemSpec): ItemSpec {
  const effective = withRunDefaults(spec, item);
  // A deliver item runs on the server's `deliver` executor whatever the run's defaults name, and is
  // `write-impure` with `onLost: fail` unless it says otherwise: a delivery changes a forge, so a
  // run's `defaults.effect: pure` must not make it reusable, nor a lost one be re-run unasked.
  if (item.runtime.kind !== 'deliver') return effective;
  return { ...effective, executor: deliverExecutorName, effect: item.effect ?? 'write-impure', onLost: item.onLost ?? 'fail' };
}

function withRunDefaults(spec: RunSpecV1, item: ItemSpec): ItemSpec {
  // Without defaults an item is its own effective spec: a submit copies none of its items.
  if (spec.defaults === undefined && spec.priority === undefined) return item;
  const defaults = spec.defaults ?? {};
  const priority = defaults.priority ?? spec.priority;
  return {
    ...(defaults.executor === undefined ? {} : { executor: defaults.executor }),
    ...(defaults.queue === undefined ? {} : { queue: defaults.queue }),
    ...(priority === undefined ? {} : { priority }),
    ...(defaults.timeout === undefined ? {} : { timeout: defaults.timeout }),
    ...(defaults.retry === undefined ? {} : { retry: defaults.retry }),
    ...(defaults.effect === undefined ? {} : { effect: defaults.effect }),
    ...(defaults.onLost === undefined ? {} : { onLost: defaults.onLost }),
    ...(defaults.network === undefined ? {} : { network: defaults.network }),
    ...(defaults.runsOn === undefined ? {} : { runsOn: defaults.runsOn }),
    ...(defaults.pathRules === undefined ? {} : { pathRules: defaults.pathRules }),
    ...(defaults.budget === undefined ? {} : { budget: defaults.budget }),
    ...(defaults.stallTimeout === undefined ? {} : { stallTimeout: defaults.stallTimeout }),
    ...(defaults.environment === undefined ? {} : { environment: defaults.environment }),
    ...item,
  };
}

/** The executor deliver items run on: the server composes one under this name when it has forges. */
export const deliverExecutorName = 'deliver';

/** Prerequisites of an item: its dependsOn, the producers of its needs, the items it merges and the one it delivers, once each. */
export function prerequisitesOf(item: ItemSpec): readonly string[] {
  if (item.forEach !== undefined) return [item.forEach.from];
  const merged = item.runtime.kind === 'merge' ? item.runtime.from : item.runtime.kind === 'deliver' ? [item.runtime.from] : noPrerequisites;
  if (item.dependsOn === undefined && item.needs === undefined && merged.length === 0) return noPrerequisites;
  return [...new Set([...(item.dependsOn ?? []), ...Object.values(item.needs ?? {}).map((need) => need.from), ...merged])];
}

const noPrerequisites: readonly string[] = [];
