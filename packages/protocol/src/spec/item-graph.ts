import type { ItemSpec, RunSpecV1 } from '@cairn/core';
import type { ValidationIssue } from '../errors/cairn-error.ts';
import { formatPathSegment } from '../json/json-path.ts';
import { runSpecLimits } from './run-spec-limits.ts';
import { didYouMean } from './suggest-name.ts';
import { needsApproval } from './approval-policy.ts';

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
 * The rules of a run's item graph that a schema cannot express: unique ids, dependencies, needs
 * and merged items (`runtime.from`) that name existing items other than the item itself, `apply`
 * naming patch inputs, no lock taken twice, no cycles (each reported with its path), a bounded
 * number of edges, and merges listing their items in dependency order.
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
  const cycles = findCycles(spec.items, dependencies);
  for (const cycle of cycles) report(cycle.path, cycle.message);
  // The merge order is read along dependencies, which mean nothing more once they go round.
  if (cycles.length === 0) {
    spec.items.forEach((item, index) => {
      if (item.runtime.kind === 'merge') mergeOrderIssues(item.runtime.from, index, indexById, dependencies, report);
    });
  }
  spec.items.forEach((item, index) => {
    if (item.runtime.kind === 'merge' && item.runtime.onConflict === 'rerun') rerunProducerIssues(spec.items, item.runtime.from, index, indexById, report);
    if (item.runtime.kind === 'deliver') {
      const producer = spec.items[indexById.get(item.runtime.from) ?? -1];
      const why =
        producer === undefined || producer === item
          ? undefined
          : producer.runtime.kind === 'deliver'
            ? 'is a deliver item, which makes no patch'
            : producer.forEach !== undefined
              ? 'is a forEach item, which makes no patch of its own (merge its instances with a merge item and deliver that)'
              : undefined;
      if (why !== undefined) report(`$.items[${index}].runtime.from`, `${JSON.stringify(item.runtime.from)} ${why}; name a command, agent or merge item.`);
    }
  });
  return issues;
}

/**
 * A deliver item runs in the server, not in a sandbox: it delivers the patch of runtime.from and
 * nothing else, so what only a program could use (inputs, patches to apply, secrets, environment,
 * an executor), what makes more items (forEach, emits) and an effect other than write-impure (a
 * pure one would be reused instead of delivered) cannot work there.
 */
function deliverItemIssues(item: ItemSpec, base: string, report: (path: string, message: string) => void): void {
  const unused = (field: string, what: string) => report(`${base}.${field}`, `must be left out of a deliver item: ${what}.`);
  const program = 'it runs no program, in the server, and delivers the patch of runtime.from';
  if (Object.keys(item.needs ?? {}).length > 0) unused('needs', `${program}; name that item as runtime.from`);
  if ((item.apply ?? []).length > 0) unused('apply', `${program}; merge the patches with a merge item and deliver that`);
  if ((item.secrets ?? []).length > 0) unused('secrets', `${program}; the forge's token is the server's (forges: in its config)`);
  if (Object.keys(item.env ?? {}).length > 0) unused('env', program);
  if (item.executor !== undefined) unused('executor', 'it always runs in the server (the forge token never reaches an executor)');
  if (item.forEach !== undefined) unused('forEach', 'deliver one patch per item; merge the instances with a merge item and deliver that');
  if (item.emits !== undefined) unused('emits', 'it adds no items');
  if (item.effect !== undefined && item.effect !== 'write-impure')
    report(
      `${base}.effect`,
      `must be write-impure (the default for a deliver item) or left out: a delivery changes a forge, and a ${item.effect} item's result could be reused or its attempt re-run as if it had not.`,
    );
}

/**
 * A merge with `onConflict: rerun` may run any of its producers again, on top of what it merged
 * before it: so each must be an item that runs a program (not a merge, not a `forEach`, which runs
 * none itself), that adds no items of its own (a second fragment) and that applies no patches
 * (which would be applied again over the merged ones).
 */
function rerunProducerIssues(
  items: readonly ItemSpec[],
  from: readonly string[],
  index: number,
  indexById: ReadonlyMap<string, number>,
  report: (path: string, message: string) => void,
): void {
  from.forEach((name, position) => {
    const producer = items[indexById.get(name) ?? -1];
    if (producer === undefined || producer === items[index]) return;
    const why =
      producer.runtime.kind === 'merge'
        ? 'is a merge'
        : producer.forEach !== undefined
          ? 'is a forEach item (it runs nothing itself)'
          : producer.emits !== undefined
            ? 'emits items (a re-run would add them again)'
            : (producer.apply ?? []).length > 0
              ? 'applies patches (a re-run applies what was merged before it instead)'
              : undefined;
    if (why !== undefined)
      report(
        `$.items[${index}].runtime.from[${position}]`,
        `${JSON.stringify(name)} ${why}, so onConflict: rerun cannot run it again; use onConflict: fail, or merge only items that run a program (command or agent) without emits or apply.`,
      );
  });
}

/**
 * A merge applies the patches of `from` in the order given: an item that depends on another (and so
 * may have made its patch on top of the other's) must come after it. Each entry listed before an
 * entry it depends on, directly or not, is reported at its path.
 */
function mergeOrderIssues(
  from: readonly string[],
  index: number,
  indexById: ReadonlyMap<string, number>,
  dependencies: readonly Dependency[][],
  report: (path: string, message: string) => void,
): void {
  const positions = new Map<number, number>();
  from.forEach((name, position) => {
    const item = indexById.get(name);
    if (item !== undefined && item !== index && !positions.has(item)) positions.set(item, position);
  });
  for (const [item, position] of positions) {
    // Every item upstream of this entry, by a depth-first walk of its dependencies.
    const seen = new Set<number>([item]);
    const stack = [item];
    let later: number | undefined;
    while (stack.length > 0 && later === undefined) {
      for (const { to } of dependencies[stack.pop()!]!) {
        if (seen.has(to)) continue;
        seen.add(to);
        const listed = positions.get(to);
        if (listed !== undefined && listed > position) later = listed;
        stack.push(to);
      }
    }
    if (later === undefined) continue;
    report(
      `$.items[${index}].runtime.from[${position}]`,
      `${JSON.stringify(from[position])} depends on ${JSON.stringify(from[later])}, which is listed after it (runtime.from[${later}]); list ${JSON.stringify(from[later])} first: patches are merged in this order, and an item's patch may be made on top of those it depends on.`,
    );
  }
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
  if (item.runtime.kind === 'merge') {
    // A merge runs no program, so it has no use for input files, and its inputs are the patches
    // of runtime.from, named after their items: needs and apply would only blur which are merged.
    if (Object.keys(item.needs ?? {}).length > 0)
      report(`${base}.needs`, 'must be left out of a merge item: it merges the patches of runtime.from; list the items there.');
    if ((item.apply ?? []).length > 0)
      report(`${base}.apply`, 'must be left out of a merge item: it merges the patches of runtime.from; list the items there.');
    const merged = new Set<string>();
    item.runtime.from.forEach((name, position) => {
      const path = `${base}.runtime.from[${position}]`;
      if (merged.has(name)) return report(path, `${JSON.stringify(name)} is listed twice; merge each item's patch once and remove the repeat.`);
      merged.add(name);
      const to = name === item.id ? undefined : resolve(name, path, index);
      if (name === item.id) report(path, `a merge item cannot merge its own patch (${JSON.stringify(name)}); remove this entry.`);
      if (to !== undefined && !seen.has(name)) dependencies.push({ to, path });
    });
  }
  if (item.runtime.kind === 'deliver') {
    deliverItemIssues(item, base, report);
    const path = `${base}.runtime.from`;
    const { from } = item.runtime;
    if (from === item.id) report(path, `a deliver item cannot deliver its own patch (${JSON.stringify(from)}); name the item that made the change.`);
    else {
      const to = resolve(from, path, index);
      if (to !== undefined && !seen.has(from)) dependencies.push({ to, path });
    }
  }
  if (item.forEach !== undefined) forEachIssues(item, base, resolve, index, seen, dependencies, report);
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
 * A `forEach` item waits for the item whose output it maps over, and for nothing else: it is
 * expanded into its instances the moment that item succeeds. So it takes no other prerequisites,
 * inputs, approval or fragment of its own, and runs a program (not a merge) once per element.
 */
function forEachIssues(
  item: ItemSpec,
  base: string,
  resolve: (name: string, path: string, self: number) => number | undefined,
  index: number,
  seen: ReadonlySet<string>,
  dependencies: Dependency[],
  report: (path: string, message: string) => void,
): void {
  const { from } = item.forEach!;
  const path = `${base}.forEach.from`;
  if (from === item.id) report(path, `an item cannot map over its own output (${JSON.stringify(from)}); name the item whose output holds the list.`);
  else {
    const to = resolve(from, path, index);
    if (to !== undefined && !seen.has(from)) dependencies.push({ to, path });
  }
  const alone = 'must be left out of a forEach item: it waits only for forEach.from and runs once per element; put what it needs on that item';
  if ((item.dependsOn ?? []).length > 0) report(`${base}.dependsOn`, `${alone}.`);
  if (Object.keys(item.needs ?? {}).length > 0) report(`${base}.needs`, `${alone}.`);
  if ((item.apply ?? []).length > 0) report(`${base}.apply`, `${alone}.`);
  if (item.emits !== undefined)
    report(`${base}.emits`, 'must be left out of a forEach item: its instances are the items it adds; a planner among them may emit.');
  if (needsApproval(item.approval))
    report(`${base}.approval`, 'must be left out of a forEach item: it is expanded the moment forEach.from succeeds; require approval on that item instead.');
  if (item.runtime.kind === 'merge') report(`${base}.runtime`, 'must run a program in a forEach item (command or agent), not a merge.');
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
