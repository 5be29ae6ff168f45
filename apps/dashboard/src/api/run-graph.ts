import type { ItemState } from '@cairn/core';
import type { DashboardApi } from './dashboard-api.ts';

/** How an item adds items to its run (ADR 0034): a planner's fragment, a `forEach` item's instances, a merge's re-runs. */
export type GrowthReason = 'planner' | 'forEach' | 'rerun';

/** An item of a run's graph, as `GET /v1/runs/{runId}/graph` answers it. */
export interface GraphNode {
  readonly itemId: string;
  /** Its place in the run: the spec's items first, then each added item in the order it was added. */
  readonly position: number;
  readonly state: ItemState;
  readonly kind: 'command' | 'agent' | 'merge';
  /** The item that added it to the run, when one did. */
  readonly group?: string;
  readonly grows?: GrowthReason;
}

/** `to` waits on `from`: a `dependency` its spec names, or a `join` the run gained as it grew. */
export interface GraphEdge {
  readonly from: string;
  readonly to: string;
  readonly kind: 'dependency' | 'join';
}

/** A run's graph as it stands: every item, how they wait on each other, which item added which. */
export interface RunGraph {
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
}

/** Nodes asked for a page: the server sorts the run's items for each page, so the fewest pages cost it least. */
const pageLimit = 10_000;

/**
 * A run's whole graph (`GET /v1/runs/{runId}/graph`), every page read and put together. The groups
 * the server lists are not kept: each node names its group, and the page's counts are of the page.
 */
export async function readRunGraph(api: DashboardApi, runPath: string, signal?: AbortSignal): Promise<RunGraph> {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  let cursor: string | undefined;
  do {
    const query = `limit=${pageLimit}${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
    const page = await api.json<{ nodes: GraphNode[]; edges: GraphEdge[]; nextCursor?: string }>(`${runPath}/graph?${query}`, signal);
    nodes.push(...page.nodes);
    edges.push(...page.edges);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return { nodes, edges };
}
