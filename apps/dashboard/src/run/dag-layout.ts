import dagre from '@dagrejs/dagre';

/** A laid-out DAG: each item's box (centre, size) and each edge's polyline, in SVG units. */
export interface DagLayout {
  readonly width: number;
  readonly height: number;
  readonly nodes: ReadonlyMap<string, { readonly x: number; readonly y: number; readonly width: number; readonly height: number }>;
  readonly edges: readonly { readonly from: string; readonly to: string; readonly points: readonly { readonly x: number; readonly y: number }[] }[];
}

const nodeSize = { width: 190, height: 68 };

/**
 * Lays out a run's items left to right with dagre: prerequisites before the items that depend on
 * them. The layout depends on the graph only, never on states, so it is computed once per run.
 */
export function layoutDag(itemIds: readonly string[], edges: readonly { readonly from: string; readonly to: string }[]): DagLayout {
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: 'LR', nodesep: 18, ranksep: 56, marginx: 12, marginy: 12 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const itemId of itemIds) graph.setNode(itemId, { width: nodeSize.width, height: nodeSize.height });
  for (const edge of edges) if (graph.hasNode(edge.from) && graph.hasNode(edge.to)) graph.setEdge(edge.from, edge.to);
  dagre.layout(graph);
  const nodes = new Map<string, { x: number; y: number; width: number; height: number }>();
  for (const itemId of itemIds) {
    const node = graph.node(itemId);
    nodes.set(itemId, { x: node.x, y: node.y, width: node.width, height: node.height });
  }
  const laidEdges = graph.edges().map((edge) => ({ from: edge.v, to: edge.w, points: graph.edge(edge).points ?? [] }));
  const size = graph.graph();
  return { width: size.width ?? 0, height: size.height ?? 0, nodes, edges: laidEdges };
}
