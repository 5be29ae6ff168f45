import type { ItemState } from '@cairn/core';
import type { GrowthReason, RunGraph } from '../api/run-graph.ts';
import { lifecycleStates } from '../lifecycle-states.ts';

/** A group of more items than this (an emitter's fragment, instances or re-runs) is drawn collapsed, as one node, until expanded. */
export const collapseGroupsAbove = 12;

/** The items one emitter added, drawn as one node. */
export interface CollapsedGroup {
  /** The item that added them (a planner, a `forEach` item, a merge). */
  readonly emitter: string;
  readonly reason: GrowthReason;
  /** Every item the node stands for: the group's, and those its own emitters added. */
  readonly itemIds: readonly string[];
}

/** A group large enough to collapse, whose emitter is drawn: the page offers to expand or collapse it. */
export interface CollapsibleGroup {
  readonly emitter: string;
  readonly reason: GrowthReason;
  readonly size: number;
  readonly expanded: boolean;
  /** Expanding it keeps the graph within the drawing limit. */
  readonly expandable: boolean;
}

/**
 * What is drawn of a run's graph: node ids (an item's id, or a collapsed group's `collapsedNodeId`),
 * the edges between them, and the collapsed groups by node id.
 */
export interface DrawnGraph {
  readonly nodeIds: readonly string[];
  /** `emitted`: an item added to the run hangs off what added it, where no edge of its own leads to it from its group. */
  readonly edges: readonly { readonly from: string; readonly to: string; readonly kind: 'dependency' | 'join' | 'emitted' }[];
  readonly collapsed: ReadonlyMap<string, CollapsedGroup>;
  readonly groups: readonly CollapsibleGroup[];
}

/** A collapsed group's node id: no item id starts with a NUL. */
export function collapsedNodeId(emitter: string): string {
  return `\u0000${emitter}`;
}

/**
 * The run's graph as drawn: each group above `collapseGroupsAbove` items that is not in `expanded`
 * becomes one node (with the groups nested in it), attached to its emitter; edges into and out of
 * its items become edges of that node (each drawn once). Each added item with no edge from its
 * group's other items or its emitter hangs off its emitter (a fragment's first items, a forEach
 * item's instances), so the graph shows who added it. `drawLimit` is the most nodes drawn: a
 * group is expandable only if expanding it stays within it.
 */
export function drawnGraph(graph: RunGraph, expanded: ReadonlySet<string>, drawLimit: number): DrawnGraph {
  const groupOf = new Map<string, string>();
  const members = new Map<string, string[]>();
  const reasons = new Map<string, GrowthReason>();
  for (const node of graph.nodes) {
    if (node.grows !== undefined) reasons.set(node.itemId, node.grows);
    if (node.group === undefined) continue;
    groupOf.set(node.itemId, node.group);
    const list = members.get(node.group) ?? [];
    list.push(node.itemId);
    members.set(node.group, list);
  }
  const isCollapsed = (emitter: string) => (members.get(emitter)?.length ?? 0) > collapseGroupsAbove && !expanded.has(emitter);
  // The node an item is drawn as: the outermost collapsed group it is in, else itself.
  const drawnAs = new Map<string, string>();
  const representative = (itemId: string): string => {
    let known = drawnAs.get(itemId);
    if (known !== undefined) return known;
    known = itemId;
    for (let emitter = groupOf.get(itemId); emitter !== undefined; emitter = groupOf.get(emitter)) if (isCollapsed(emitter)) known = collapsedNodeId(emitter);
    drawnAs.set(itemId, known);
    return known;
  };
  // The node an item of `top`'s group is drawn as once `top` is expanded: the outermost collapsed group below `top` it is in, else itself.
  const drawnUnder = (itemId: string, top: string): string => {
    let known = itemId;
    for (let emitter = groupOf.get(itemId); emitter !== undefined && emitter !== top; emitter = groupOf.get(emitter))
      if (isCollapsed(emitter)) known = collapsedNodeId(emitter);
    return known;
  };
  const nodeIds: string[] = [];
  const collapsedItems = new Map<string, string[]>();
  for (const node of graph.nodes) {
    const drawn = representative(node.itemId);
    if (drawn === node.itemId) nodeIds.push(drawn);
    else {
      const list = collapsedItems.get(drawn);
      if (list === undefined) (collapsedItems.set(drawn, [node.itemId]), nodeIds.push(drawn));
      else list.push(node.itemId);
    }
  }
  const edges: { from: string; to: string; kind: 'dependency' | 'join' | 'emitted' }[] = [];
  const seen = new Set<string>();
  const add = (from: string, to: string, kind: 'dependency' | 'join' | 'emitted') => {
    const key = `${from}\n${to}`;
    if (from === to || seen.has(key)) return;
    seen.add(key);
    edges.push({ from, to, kind });
  };
  const reachedFromGroup = new Set<string>();
  for (const edge of graph.edges) {
    if (!drawnAs.has(edge.from) || !drawnAs.has(edge.to)) continue;
    const group = groupOf.get(edge.to);
    if (group !== undefined && (edge.from === group || groupOf.get(edge.from) === group)) reachedFromGroup.add(edge.to);
    add(representative(edge.from), representative(edge.to), edge.kind);
  }
  for (const [emitter, itemIds] of members)
    if (drawnAs.has(emitter)) for (const itemId of itemIds) if (!reachedFromGroup.has(itemId)) add(representative(emitter), representative(itemId), 'emitted');

  const collapsed = new Map<string, CollapsedGroup>();
  for (const [nodeId, itemIds] of collapsedItems) {
    const emitter = nodeId.slice(1);
    collapsed.set(nodeId, { emitter, reason: reasons.get(emitter) ?? 'planner', itemIds });
  }
  const groups: CollapsibleGroup[] = [];
  for (const [emitter, itemIds] of members) {
    if (itemIds.length <= collapseGroupsAbove || representative(emitter) !== emitter) continue;
    const isExpanded = expanded.has(emitter);
    // Expanded, its node gives way to the nodes its items are drawn as: each its own, or a nested
    // group's that stays collapsed.
    const added = isExpanded ? 0 : new Set(collapsedItems.get(collapsedNodeId(emitter))?.map((itemId) => drawnUnder(itemId, emitter))).size - 1;
    groups.push({
      emitter,
      reason: reasons.get(emitter) ?? 'planner',
      size: itemIds.length,
      expanded: isExpanded,
      expandable: isExpanded || nodeIds.length + added <= drawLimit,
    });
  }
  return { nodeIds, edges, collapsed, groups };
}

/** "25 items: 20 succeeded, 3 running, 2 ready": how many items, and how many in each state, in lifecycle order (most common first at a tie). */
export function stateSummary(itemIds: readonly string[], stateOf: (itemId: string) => ItemState): { text: string; counts: string; state: ItemState } {
  const byState = new Map<ItemState, number>();
  for (const itemId of itemIds) {
    const state = stateOf(itemId);
    byState.set(state, (byState.get(state) ?? 0) + 1);
  }
  const ordered = [...byState].sort(([a, countA], [b, countB]) => countB - countA || lifecycleStates.items.indexOf(a) - lifecycleStates.items.indexOf(b));
  const counts = ordered.map(([state, count]) => `${count} ${state}`).join(', ');
  return { text: `${itemIds.length} items: ${counts}`, counts, state: groupState(byState) };
}

/** The state a collapsed group is coloured as: the one that most needs a look, else what they all ended as. */
function groupState(byState: ReadonlyMap<ItemState, number>): ItemState {
  for (const state of ['failed', 'running', 'awaiting-approval', 'ready', 'blocked', 'cancelled', 'skipped'] as const) if (byState.has(state)) return state;
  return 'succeeded';
}
