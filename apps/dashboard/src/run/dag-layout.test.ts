import { expect, test } from 'vitest';
import { layoutDag } from './dag-layout.ts';

/** A planner that emitted `count` items and a report joining them and the planner, after a setup item both depend on. */
function grownRun(count: number, withSetup: boolean) {
  const emitted = Array.from({ length: count }, (_, index) => `plan/part-${index}`);
  const nodes = [...(withSetup ? ['setup'] : []), 'plan', ...emitted, 'report'];
  const edges = [
    ...(withSetup
      ? [
          { from: 'setup', to: 'plan' },
          { from: 'setup', to: 'report' },
        ]
      : []),
    ...emitted.map((itemId) => ({ from: 'plan', to: itemId, kind: 'emitted' as const })),
    ...emitted.map((itemId) => ({ from: itemId, to: 'report', kind: 'join' as const })),
    { from: 'plan', to: 'report' },
  ];
  return { nodes, edges };
}

test.each([
  [3, false],
  [5, false],
  [4, true],
  [8, true],
])("a grown run's edges that skip ranks (plan → report, %i emitted, setup: %s) are drawn inside the drawing, not cut off", (count, withSetup) => {
  const { nodes, edges } = grownRun(count, withSetup);
  const layout = layoutDag(nodes, edges);
  const points = layout.edges.flatMap((edge) => edge.points.map((point) => ({ edge: `${edge.from} → ${edge.to}`, ...point })));
  expect(points.length).toBeGreaterThan(0);
  const outside = points.filter((point) => point.x < 0 || point.y < 0 || point.x > layout.width || point.y > layout.height);
  expect(outside).toEqual([]);
  for (const [nodeId, box] of layout.nodes) {
    expect(box.x - box.width / 2, nodeId).toBeGreaterThanOrEqual(0);
    expect(box.y - box.height / 2, nodeId).toBeGreaterThanOrEqual(0);
    expect(box.x + box.width / 2, nodeId).toBeLessThanOrEqual(layout.width);
    expect(box.y + box.height / 2, nodeId).toBeLessThanOrEqual(layout.height);
  }
  // The plan → report edge still starts at plan and ends at report (moved with them).
  const planToReport = layout.edges.find((edge) => edge.from === 'plan' && edge.to === 'report')!;
  expect(Math.abs(planToReport.points[0]!.x - layout.nodes.get('plan')!.x)).toBeLessThanOrEqual(layout.nodes.get('plan')!.width / 2 + 1);
});
