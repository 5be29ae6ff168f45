import type { ItemState, ModelCallSpend } from '@cairn/core';
import { egressLines, egressOf } from './egress-lines.ts';
import { environmentLines, environmentOf } from './environment-lines.ts';
import { spendText } from './spend-text.ts';
import { candidateLines, candidatesOf } from './candidate-lines.ts';

/**
 * `cairn status`'s item lines: each item with its state (and priority, and spend), the items a
 * planner added listed under it, indented by how deep they were emitted (`plan/fix-auth` under
 * `plan`, ADR 0034), in one column as wide as the longest id, so that long ids do not push the
 * states out of line. When any item's priority is not its run's (`runPriority`), each item's
 * follows in a column of its own, after the longest state (the header line says the run's); an
 * item's spend follows in the last column. Under an item whose network is an allow-list, what the
 * egress proxy of its latest attempt refused, each refusal with the allow entry that would admit it;
 * under an item with a warm environment, the environment its latest attempt ran over, built or reused;
 * under a best-of-N item, its candidates side by side and the winner.
 */
export function statusItemLines(
  items: readonly {
    readonly itemId: string;
    readonly state: ItemState;
    readonly priority?: number;
    readonly egress?: unknown;
    readonly environment?: unknown;
    readonly candidates?: unknown;
  }[],
  spend: Readonly<Record<string, ModelCallSpend>> | undefined,
  runPriority?: number,
): string[] {
  const known = new Set(items.map((item) => item.itemId));
  // A planner's item is `<planner>/<id>`: its parent is the id before its last `/`.
  const parentOf = (itemId: string) => {
    const cut = itemId.lastIndexOf('/');
    return cut > 0 && known.has(itemId.slice(0, cut)) ? itemId.slice(0, cut) : undefined;
  };
  const children = new Map<string, (typeof items)[number][]>();
  const roots: (typeof items)[number][] = [];
  for (const item of items) {
    const parent = parentOf(item.itemId);
    if (parent === undefined) roots.push(item);
    else children.set(parent, [...(children.get(parent) ?? []), item]);
  }
  const ordered: { readonly item: (typeof items)[number]; readonly depth: number }[] = [];
  const visit = (item: (typeof items)[number], depth: number) => {
    ordered.push({ item, depth });
    for (const child of children.get(item.itemId) ?? []) visit(child, depth + 1);
  };
  for (const root of roots) visit(root, 0);
  const width = Math.max(16, ...ordered.map(({ item, depth }) => 2 * depth + item.itemId.length));
  // The spend after a state starts in one column too, however long the states before it.
  const stateWidth = Math.max(...ordered.map(({ item }) => item.state.length));
  const priorities = items.some((item) => item.priority !== undefined && item.priority !== runPriority);
  return ordered.flatMap(({ item, depth }) => {
    const spent = spend?.[item.itemId];
    const columns = [item.state, ...(priorities ? [`priority ${item.priority ?? '?'}`] : []), ...(spent ? [spendText(spent, true)] : [])];
    // Every column but the last padded to its widest, so the next starts in one place on every line.
    const widths = [stateWidth, 'priority ?'.length];
    return [
      `  ${`${'  '.repeat(depth)}${item.itemId}`.padEnd(width)} ${columns.map((column, index) => (index < columns.length - 1 ? column.padEnd(widths[index]!) : column)).join('  ')}`,
      ...egressLines(egressOf({ egress: item.egress }), 4 + 2 * depth),
      ...environmentLines(environmentOf({ environment: item.environment }), 4 + 2 * depth),
      ...candidateLines(candidatesOf(item), 4 + 2 * depth),
    ];
  });
}
