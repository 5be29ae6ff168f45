import type { ItemSpec, ItemState } from '@cairn/core';
import type { EngineService, GraphItemRecord } from '@cairn/engine';

/** How an item adds items to its run (ADR 0034): a planner's fragment, a `forEach` item's instances, a merge's re-runs of producers that conflicted. */
export type GrowthReason = 'planner' | 'forEach' | 'rerun';

/** An item of a run's graph. */
export interface RunGraphNode {
  readonly itemId: string;
  /** Its place in the run: the spec's items first, then each added item in the order it was added. */
  readonly position: number;
  readonly state: ItemState;
  readonly kind: ItemSpec['runtime']['kind'];
  /** The item that added it to the run (a planner, a `forEach` item, a merge), when one did. */
  readonly group?: string;
  /** How it adds items to the run when it does: `planner` (emits), `forEach`, `rerun` (a merge with onConflict: rerun). */
  readonly grows?: GrowthReason;
}

/**
 * `to` waits on `from`. A `dependency` is named by `to`'s spec (dependsOn, a need's from, a merge's
 * from, a forEach's from), whether or not `from` had succeeded when `to` joined the run. A `join`
 * is a wait the run gained as it grew, which no spec names: a fragment's last items for each
 * item that depended on their planner, a `forEach` item's instances for each item that depended
 * on it, a re-run for its merge.
 */
export interface RunGraphEdge {
  readonly from: string;
  readonly to: string;
  readonly kind: 'dependency' | 'join';
}

/** The items one item added to the run (of a page: those on it). */
export interface RunGraphGroup {
  /** The item that added them. */
  readonly id: string;
  readonly reason: GrowthReason;
  readonly items: number;
}

/** A page of a run's graph (`GET /v1/runs/{runId}/graph`). */
export interface RunGraphPage {
  readonly runId: string;
  readonly nodes: RunGraphNode[];
  readonly edges: RunGraphEdge[];
  readonly groups: RunGraphGroup[];
  /** The `cursor` of the next page; absent on the last. */
  readonly nextCursor?: string;
}

/** Nodes a page holds: 1,000 unless asked, at most 10,000 (each page's read sorts the run's items by position). */
export const runGraphLimits = { default: 1_000, max: 10_000 } as const;

/** A cursor this server gives out: the position of the last node of the page before. */
export const runGraphCursorPattern = /^(0|[1-9][0-9]{0,8})$/;

/**
 * A page of a run's graph: up to `limit` of its items after position `afterPosition` (-1 for the
 * first page), in position order, as nodes; the edges of those nodes, each on exactly one page —
 * a dependency on its dependent's page, a join on its prerequisite's — listed node by node (its
 * dependencies as its spec names them, then the joins out of it); and the groups of the page's
 * nodes, in the order they first appear. Paging by position misses no item of a run that grows
 * meanwhile (items are only added, at the end); a join added later to a page already read is on
 * that page when it is read again.
 */
export async function readRunGraphPage(
  service: Pick<EngineService, 'graphItems'>,
  runId: string,
  page: { readonly afterPosition: number; readonly limit: number },
): Promise<RunGraphPage> {
  // One more than asked tells whether another page follows.
  const read = await service.graphItems(runId, { afterPosition: page.afterPosition, limit: page.limit + 1 });
  const items = read.slice(0, page.limit);
  const known = new Map(items.map((item) => [item.itemId, item]));
  // Off the page, the items that may have added the page's (their ids are prefixes of the page's)
  // and those that wait on an added item of the page (their specs tell a dependency from a join):
  // read by id. Only an added item has joins out of it: a spec's own item, the root of a fan-out of
  // 50,000, has its dependents listed on their pages, and none of them read here.
  const wanted = new Set<string>();
  for (const item of items) {
    for (const candidate of emitterCandidates(item.itemId)) if (!known.has(candidate)) wanted.add(candidate);
    if (isAdded(item.itemId)) for (const dependent of item.dependents) if (!known.has(dependent)) wanted.add(dependent);
  }
  if (wanted.size > 0) for (const other of await service.graphItems(runId, { itemIds: [...wanted] })) known.set(other.itemId, other);

  const nodes: RunGraphNode[] = [];
  const edges: RunGraphEdge[] = [];
  const groups = new Map<string, { reason: GrowthReason; items: number }>();
  // Each dependent's prerequisites as a set, made once: a merge of a 10,000-item fragment is asked
  // about each of them.
  const named = new Map<string, ReadonlySet<string>>();
  const names = (itemId: string): ReadonlySet<string> => {
    let set = named.get(itemId);
    if (set === undefined) named.set(itemId, (set = new Set(known.get(itemId)?.prerequisites)));
    return set;
  };
  for (const item of items) {
    const emitter = emitterOf(item.itemId, known);
    const grows = growthOf(item.spec);
    nodes.push({
      itemId: item.itemId,
      position: item.position,
      state: item.state,
      kind: item.spec.runtime.kind,
      ...(emitter === undefined ? {} : { group: emitter.itemId }),
      ...(grows === undefined ? {} : { grows }),
    });
    if (emitter !== undefined) {
      const group = groups.get(emitter.itemId) ?? { reason: growthOf(emitter.spec)!, items: 0 };
      group.items += 1;
      groups.set(emitter.itemId, group);
    }
    for (const prerequisite of item.prerequisites) edges.push({ from: prerequisite, to: item.itemId, kind: 'dependency' });
    if (isAdded(item.itemId))
      for (const dependent of item.dependents) if (!names(dependent).has(item.itemId)) edges.push({ from: item.itemId, to: dependent, kind: 'join' });
  }
  return {
    runId,
    nodes,
    edges,
    groups: [...groups].map(([id, group]) => ({ id, ...group })),
    ...(read.length > page.limit ? { nextCursor: String(items.at(-1)!.position) } : {}),
  };
}

/** How an item adds items to its run, if it does. */
function growthOf(spec: ItemSpec): GrowthReason | undefined {
  if (spec.emits !== undefined) return 'planner';
  if (spec.forEach !== undefined) return 'forEach';
  if (spec.runtime.kind === 'merge' && spec.runtime.onConflict === 'rerun') return 'rerun';
  return undefined;
}

/**
 * Whether the run gained the item as it grew: its id is named under what added it, and a spec's own
 * ids hold no `/`. Every join starts at such an item (a fragment's last items, a forEach item's
 * instances, a re-run); each stored edge out of a spec's own item is one its dependent's spec names.
 */
function isAdded(itemId: string): boolean {
  return itemId.includes('/');
}

/**
 * The ids that may have added an item, longest first: its id's prefixes at each `/`. An added
 * item is named under what added it (`plan/fix-auth`, `fix/0`, `<merge>/<producer>`, nested
 * `plan/sub/x`), and a spec's own ids hold no `/`.
 */
function emitterCandidates(itemId: string): string[] {
  const candidates: string[] = [];
  for (let cut = itemId.lastIndexOf('/'); cut > 0; cut = itemId.lastIndexOf('/', cut - 1)) candidates.push(itemId.slice(0, cut));
  return candidates;
}

/**
 * The item that added `itemId`: the longest prefix of its id that is an item which adds items. A
 * merge's re-run of a producer named under a planner (`merge/plan/fix`) has prefixes that are no
 * item (`merge/plan`) or an item that adds none (the merge's re-run of a producer `plan`): both
 * are passed over for the merge.
 */
function emitterOf(itemId: string, known: ReadonlyMap<string, GraphItemRecord>): GraphItemRecord | undefined {
  for (const candidate of emitterCandidates(itemId)) {
    const item = known.get(candidate);
    if (item !== undefined && growthOf(item.spec) !== undefined) return item;
  }
  return undefined;
}
