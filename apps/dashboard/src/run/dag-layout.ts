import dagre from '@dagrejs/dagre';

/** How an edge came to be: its dependent's spec names it, the run gained it as it grew, or an added item hangs off what added it. */
export type EdgeKind = 'dependency' | 'join' | 'emitted';

/** A laid-out DAG: each node's box (centre, size) and each edge's polyline, in SVG units. */
export interface DagLayout {
  readonly width: number;
  readonly height: number;
  readonly nodes: ReadonlyMap<string, { readonly x: number; readonly y: number; readonly width: number; readonly height: number }>;
  readonly edges: readonly {
    readonly from: string;
    readonly to: string;
    readonly kind: EdgeKind;
    readonly points: readonly { readonly x: number; readonly y: number }[];
  }[];
}

const nodeSize = { width: 190, height: 68 };
/** A collapsed group's node is wider: its line of counts by state is longer than an item's id. */
const wideNodeWidth = 250;

/**
 * Lays out a run's nodes left to right with dagre: prerequisites before the items that depend on
 * them. The layout depends on the graph only, never on states, so it is computed again only when
 * the graph's shape changes. `wide` nodes (collapsed groups) are drawn wider.
 */
export function layoutDag(
  nodeIds: readonly string[],
  edges: readonly { readonly from: string; readonly to: string; readonly kind?: EdgeKind }[],
  wide: ReadonlySet<string> = new Set(),
): DagLayout {
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: 'LR', nodesep: 18, ranksep: 56, marginx: 12, marginy: 12 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const nodeId of nodeIds) graph.setNode(nodeId, { width: wide.has(nodeId) ? wideNodeWidth : nodeSize.width, height: nodeSize.height });
  for (const edge of edges) if (graph.hasNode(edge.from) && graph.hasNode(edge.to)) graph.setEdge(edge.from, edge.to, { kind: edge.kind ?? 'dependency' });
  dagre.layout(graph);
  const nodes = new Map<string, { x: number; y: number; width: number; height: number }>();
  for (const nodeId of nodeIds) {
    const node = graph.node(nodeId);
    nodes.set(nodeId, { x: node.x, y: node.y, width: node.width, height: node.height });
  }
  const laidEdges = graph.edges().map((edge) => {
    const label = graph.edge(edge) as { kind: EdgeKind; points?: { x: number; y: number }[] };
    return { from: edge.v, to: edge.w, kind: label.kind, points: label.points ?? [] };
  });
  const size = graph.graph();
  return { width: size.width ?? 0, height: size.height ?? 0, nodes, edges: laidEdges };
}
