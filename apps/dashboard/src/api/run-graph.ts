import type { DashboardApi } from './dashboard-api.ts';
import type { components } from './openapi.d.ts';

/** An item of a run's graph, as `GET /v1/runs/{runId}/graph` answers it: the API's GraphNode. */
export type GraphNode = components['schemas']['GraphNode'];

/** How an item adds items to its run (ADR 0034): a planner's fragment, a `forEach` item's instances, a merge's re-runs. */
export type GrowthReason = NonNullable<GraphNode['grows']>;

/** `to` waits on `from`: a `dependency` its spec names, or a `join` the run gained as it grew. */
export type GraphEdge = components['schemas']['GraphEdge'];

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
    const page = await api.json<components['schemas']['RunGraphPage']>(`${runPath}/graph?${query}`, signal);
    nodes.push(...page.nodes);
    edges.push(...page.edges);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return { nodes, edges };
}
