import type { ItemSpec, RunSpecV1 } from '@cairn/core';
import type { ValidationIssue } from '../errors/cairn-error.ts';
import { formatPathSegment } from '../json/json-path.ts';
import { runSpecLimits } from './run-spec-limits.ts';
import { didYouMean } from './suggest-name.ts';

/** One "waits for" edge: `from` item waits for `to`, written at `path`. */
interface Dependency {
  readonly to: number;
  readonly path: string;
}

/** At most this many cycles are reported; one is enough to act on, a thousand is noise. */
const reportedCyclesLimit = 10;
/** Suggestions cost an edit-distance scan of every id; only the first unknown names get one. */
const suggestionsLimit = 50;

/**
 * The rules of a run's item graph that a schema cannot express: unique ids, dependencies and
 * needs that name existing items other than the item itself, `apply` naming patch inputs, no
 * lock taken twice, no cycles (each reported with its path), and a bounded number of edges.
 * Expects a spec that already matches the schema.
 */
export function itemGraphIssues(spec: RunSpecV1): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const report = (path: string, message: string, code: ValidationIssue['code'] = 'CAIRN_RUN_SPEC_INVALID') => issues.push({ code, path, message });
  const indexById = new Map<string, number>();
  spec.items.forEach((item, index) => {
    const first = indexById.get(item.id);
    if (first === undefined) indexById.set(item.id, index);
    else report(`$.items[${index}].id`, `${JSON.stringify(item.id)} is already the id of $.items[${first}]; give every item a unique id.`);
  });

  let suggestionsLeft = suggestionsLimit;
  const resolve = (name: string, path: string, self: number): number | undefined => {
    const target = indexById.get(name);
    if (target === undefined) {
      const hint = suggestionsLeft-- > 0 ? didYouMean(name, indexById.keys()) : '';
      report(path, `names no item of this run: ${JSON.stringify(name)}${hint || '.'} Use the id of an item in items.`);
      return undefined;
    }
    if (target === self) {
      report(path, `an item cannot wait for itself (${JSON.stringify(name)}); remove this entry.`);
      return undefined;
    }
    return target;
  };

  const dependencies: Dependency[][] = spec.items.map((item, index) => itemDependencies(item, index, resolve, report));
  const edges = dependencies.reduce((total, list) => total + list.length, 0);
  if (edges > runSpecLimits.edges) {
    report('$.items', `the run has ${edges} dependencies; at most ${runSpecLimits.edges} are allowed. Split the run.`, 'CAIRN_RUN_SPEC_TOO_LARGE');
  }
  for (const cycle of findCycles(spec.items, dependencies)) report(cycle.path, cycle.message);
  return issues;
}

function itemDependencies(
  item: ItemSpec,
  index: number,
  resolve: (name: string, path: string, self: number) => number | undefined,
  report: (path: string, message: string) => void,
): Dependency[] {
  const base = `$.items[${index}]`;
  const dependencies: Dependency[] = [];
  const seen = new Set<string>();
  item.dependsOn?.forEach((name, position) => {
    const path = `${base}.dependsOn[${position}]`;
    if (seen.has(name)) return report(path, `${JSON.stringify(name)} is listed twice; remove the repeat.`);
    seen.add(name);
    const to = resolve(name, path, index);
    if (to !== undefined) dependencies.push({ to, path });
  });
  const needs = item.needs ?? {};
  for (const [needName, need] of Object.entries(needs)) {
    const path = `${base}.needs${formatPathSegment(needName)}.from`;
    const to = resolve(need.from, path, index);
    if (to !== undefined && !seen.has(need.from)) dependencies.push({ to, path });
  }
  const applied = new Set<string>();
  item.apply?.forEach((needName, position) => {
    const path = `${base}.apply[${position}]`;
    const need = Object.hasOwn(needs, needName) ? needs[needName] : undefined;
    if (applied.has(needName)) report(path, `${JSON.stringify(needName)} is applied twice; remove the repeat.`);
    else if (need === undefined)
      report(path, `names no entry of needs: ${JSON.stringify(needName)}${didYouMean(needName, Object.keys(needs)) || '.'} Apply only needs entries.`);
    else if (need.select !== 'patch') report(path, `${JSON.stringify(needName)} selects ${need.select}, not a patch; only patch inputs can be applied.`);
    applied.add(needName);
  });
  const locks = new Set<string>();
  item.locks?.forEach((lock, position) => {
    const lockName = typeof lock === 'string' ? lock : lock.name;
    if (locks.has(lockName)) report(`${base}.locks[${position}]`, `the lock ${JSON.stringify(lockName)} is taken twice; take each lock once.`);
    locks.add(lockName);
  });
  return dependencies;
}

/**
 * Cycles of the "waits for" graph, by an iterative depth-first search (a 10,000-item chain must
 * not overflow the stack). Each back edge closes one cycle, reported at that edge's path.
 */
function findCycles(items: readonly ItemSpec[], dependencies: readonly Dependency[][]): { path: string; message: string }[] {
  const unvisited = 0;
  const onStack = 1;
  const done = 2;
  const state = new Uint8Array(items.length);
  const cycles: { path: string; message: string }[] = [];
  for (let root = 0; root < items.length && cycles.length < reportedCyclesLimit; root++) {
    if (state[root] !== unvisited) continue;
    const stack: { node: number; next: number }[] = [{ node: root, next: 0 }];
    state[root] = onStack;
    while (stack.length > 0 && cycles.length < reportedCyclesLimit) {
      const frame = stack.at(-1)!;
      const edge = dependencies[frame.node]![frame.next++];
      if (edge === undefined) {
        state[frame.node] = done;
        stack.pop();
        continue;
      }
      if (state[edge.to] === unvisited) {
        state[edge.to] = onStack;
        stack.push({ node: edge.to, next: 0 });
      } else if (state[edge.to] === onStack) {
        const start = stack.findIndex((entry) => entry.node === edge.to);
        const ids = [...stack.slice(start).map((entry) => items[entry.node]!.id), items[edge.to]!.id];
        cycles.push({
          path: edge.path,
          message: `closes a cycle: ${ids.join(' → ')} (each waits for the next). Remove one of these dependencies.`,
        });
      }
    }
  }
  return cycles;
}
