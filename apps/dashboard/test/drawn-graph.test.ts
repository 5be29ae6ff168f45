// What the run page draws of a grown run's graph (the shapes GET /v1/runs/{runId}/graph answers,
// as in apps/server/src/http/run-graph.test.ts): a group above the collapsing size folds into
// one node with the groups nested in it, its edges drawn once; an expanded one is drawn item by
// item; a group is expandable only while the drawing stays within its limit.
import { expect, test } from 'vitest';
import type { GraphEdge, GraphNode, RunGraph } from '../src/api/run-graph.ts';
import { collapseGroupsAbove, collapsedNodeId, drawnGraph, stateSummary } from '../src/run/drawn-graph.ts';

const node = (itemId: string, position: number, more: Partial<GraphNode> = {}): GraphNode => ({
  itemId,
  position,
  state: 'succeeded',
  kind: 'command',
  ...more,
});
const dependency = (from: string, to: string): GraphEdge => ({ from, to, kind: 'dependency' });
const join = (from: string, to: string): GraphEdge => ({ from, to, kind: 'join' });

/** plan adds `many` items, the first a planner (`plan/sub`) adding two of its own; report waits on plan. */
function nestedRun(many: number): RunGraph {
  const added = Array.from({ length: many - 1 }, (_, index) => node(`plan/step-${index}`, 3 + index, { group: 'plan' }));
  return {
    nodes: [
      node('plan', 0, { grows: 'planner' }),
      node('report', 1, { state: 'blocked' }),
      node('plan/sub', 2, { group: 'plan', grows: 'planner' }),
      ...added,
      node('plan/sub/x', 2 + many, { group: 'plan/sub', state: 'running' }),
      node('plan/sub/y', 3 + many, { group: 'plan/sub', state: 'ready' }),
    ],
    edges: [
      dependency('plan', 'report'),
      dependency('plan/sub', 'plan/step-0'),
      ...added.map((item) => join(item.itemId, 'report')),
      dependency('plan/sub/x', 'plan/sub/y'),
      join('plan/sub/y', 'report'),
    ],
  };
}

test('a group above the collapsing size is one node holding its nested groups, attached to its emitter, its edges drawn once', () => {
  const many = collapseGroupsAbove + 1;
  const drawn = drawnGraph(nestedRun(many), new Set(), 400);
  const folded = collapsedNodeId('plan');
  expect(drawn.nodeIds).toEqual(['plan', 'report', folded]);
  expect(drawn.edges).toEqual([
    { from: 'plan', to: 'report', kind: 'dependency' },
    { from: folded, to: 'report', kind: 'join' },
    { from: 'plan', to: folded, kind: 'emitted' },
  ]);
  expect(drawn.collapsed.get(folded)?.itemIds).toHaveLength(many + 2);
  expect(drawn.groups).toEqual([{ emitter: 'plan', reason: 'planner', size: many, expanded: false, expandable: true }]);
  const states = new Map(nestedRun(many).nodes.map((item) => [item.itemId, item.state]));
  expect(stateSummary(drawn.collapsed.get(folded)!.itemIds, (itemId) => states.get(itemId)!)).toEqual({
    text: `${many + 2} items: ${many} succeeded, 1 ready, 1 running`,
    counts: `${many} succeeded, 1 ready, 1 running`,
    state: 'running',
  });
});

test('expanded, a group is drawn item by item: its own dependencies, its joins, its first items off its emitter', () => {
  const many = collapseGroupsAbove + 1;
  const drawn = drawnGraph(nestedRun(many), new Set(['plan']), 400);
  expect(drawn.nodeIds).toHaveLength(2 + many + 2);
  expect(drawn.collapsed.size).toBe(0);
  const edges = drawn.edges.map((edge) => `${edge.from} ${edge.kind} ${edge.to}`);
  expect(edges).toContain('plan/sub dependency plan/step-0');
  expect(edges).toContain('plan/sub/x dependency plan/sub/y');
  expect(edges).toContain(`plan/step-${many - 2} join report`);
  expect(edges).toContain('plan/sub/y join report');
  // What waits on nothing in its group hangs off what added it; plan/step-0 waits on plan/sub.
  expect(edges).toContain('plan emitted plan/sub');
  expect(edges).toContain('plan/sub emitted plan/sub/x');
  expect(edges).not.toContain('plan emitted plan/step-0');
  expect(edges).not.toContain('plan/sub emitted plan/sub/y');
});

test('a group expands only if the drawing stays within its limit; a small group is never collapsed', () => {
  const many = collapseGroupsAbove + 1;
  expect(drawnGraph(nestedRun(many), new Set(), 2 + many).groups[0]?.expandable).toBe(false);
  expect(drawnGraph(nestedRun(many), new Set(), 2 + many + 2).groups[0]?.expandable).toBe(true);
  const small = drawnGraph(nestedRun(collapseGroupsAbove), new Set(), 400);
  expect(small.collapsed.size).toBe(0);
  expect(small.groups).toEqual([]);
});
