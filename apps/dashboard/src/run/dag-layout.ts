import { Graph, layout } from '@dagrejs/dagre';

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
/** Room around the drawing, nodes and edges alike. */
const margin = 12;
/** A collapsed group's node is wider: its line of counts by state is longer than an item's id. */
const wideNodeWidth = 250;

/**
 * Lays out a run's nodes left to right with dagre: prerequisites before the items that depend on
 * them. The layout depends on the graph only, never on states, so it is computed again only when
 * the graph's shape changes. `wide` nodes (collapsed groups) are drawn wider. The drawing's size
 * holds its edges too: dagre sizes the graph by its nodes, and routes an edge that skips ranks
 * (a planner's edge to the item that joins what it emitted) around them, outside that box, where
 * the SVG would cut it off; everything is moved so that the edges' points are inside as well.
 */
export function layoutDag(
  nodeIds: readonly string[],
  edges: readonly { readonly from: string; readonly to: string; readonly kind?: EdgeKind }[],
  wide: ReadonlySet<string> = new Set(),
): DagLayout {
  const graph = new Graph();
  graph.setGraph({ rankdir: 'LR', nodesep: 18, ranksep: 56, marginx: margin, marginy: margin });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const nodeId of nodeIds) graph.setNode(nodeId, { width: wide.has(nodeId) ? wideNodeWidth : nodeSize.width, height: nodeSize.height });
  for (const edge of edges) if (graph.hasNode(edge.from) && graph.hasNode(edge.to)) graph.setEdge(edge.from, edge.to, { kind: edge.kind ?? 'dependency' });
  layout(graph);
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
  const points = laidEdges.flatMap((edge) => edge.points);
  const left = Math.min(margin, ...points.map((point) => point.x - margin));
  const top = Math.min(margin, ...points.map((point) => point.y - margin));
  const right = Math.max(size.width ?? 0, ...points.map((point) => point.x + margin));
  const bottom = Math.max(size.height ?? 0, ...points.map((point) => point.y + margin));
  // Shifted by what lies above or left of the margin (nothing, for most graphs).
  const dx = margin - left;
  const dy = margin - top;
  const moved = (point: { readonly x: number; readonly y: number }) => ({ ...point, x: point.x + dx, y: point.y + dy });
  return {
    width: right + dx,
    height: bottom + dy,
    nodes: new Map([...nodes].map(([nodeId, box]) => [nodeId, { ...box, ...moved(box) }])),
    edges: laidEdges.map((edge) => ({ ...edge, points: edge.points.map(moved) })),
  };
}
