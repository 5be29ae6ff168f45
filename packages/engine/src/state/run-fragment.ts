import type { Digest, ItemSpec, ItemState, RunSpecV1 } from '@cairn/core';
import { CairnError, sha256Digest, validateRunSpec, type RunSpecContext, type ValidationIssue } from '@cairn/protocol';
import { prerequisitesOf, withDefaults } from './run-submission.ts';

/** The most items a run holds, those its planners add included (as at submit). */
export const maxRunItems = 100_000;

/** A planner's fragment, checked against its run and ready to insert: ids namespaced under the emitter. */
export interface CheckedFragment {
  /** The digest of the output the fragment came from (`output.json`, as the worker stored it). */
  readonly digest: Digest;
  /** Its items, ids and references to each other namespaced (`plan/fix-auth`), in the order given. */
  readonly items: readonly ItemSpec[];
  /** Dependency edges between its items (prerequisite, dependent): the only waits they start with. */
  readonly edges: readonly (readonly [prerequisite: string, dependent: string])[];
  /** Its items no other of its items depends on: what the emitter's dependents wait for (a join). */
  readonly sinks: readonly string[];
}

/** What checking a fragment needs to know of the run and the emitter. */
export interface FragmentContext {
  readonly runId: string;
  /** The run's spec as submitted: its defaults apply to emitted items. */
  readonly runSpec: RunSpecV1;
  readonly emitterId: string;
  /** The emitter's effective spec: its `emits` sets the limits. */
  readonly emitter: ItemSpec;
  /** The state of an item of the run, undefined when there is none. */
  readonly itemState: (itemId: string) => ItemState | undefined;
  /** How many items the run holds now. */
  readonly itemCount: number;
  /** The secrets the run's items name: the grants its submitter held, which emitted items share. */
  readonly secrets: ReadonlySet<string>;
  /** What exists on this server (executors, queues, adapters, secrets), as at submit. */
  readonly context?: RunSpecContext;
}

/**
 * Checks the fragment a planner wrote (the `items` of its `output.json`) exactly as a submitted
 * spec is checked — schema, ids, dependencies, cycles, what exists on the server — every problem
 * at its JSON path in the fragment, then against the run: an item may depend on the emitter, on
 * items of its fragment (preferred when a name is both) and on items that have succeeded; it names
 * only secrets the run's items name; the fragment holds at most `emits.maxItems` items and keeps the
 * run within 100,000; an emitted planner nests no deeper than `emits.maxDepth` allows (its own is
 * capped to what is left). Throws CAIRN_RUN_SPEC_INVALID (or CAIRN_FORBIDDEN for a secret) naming
 * the emitter; nothing is added then.
 */
export function checkFragment(output: Uint8Array, digest: Digest, fragment: FragmentContext): CheckedFragment {
  const { emitterId, emitter } = fragment;
  const emits = emitter.emits!;
  const items = fragmentItems(output, emitterId);
  const refuse = (issues: readonly ValidationIssue[]): never => {
    const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
    throw new CairnError(
      'CAIRN_RUN_SPEC_INVALID',
      `The fragment item ${emitterId} emitted (its output.json) has ${count}; the first: ${issues[0]!.path} ${issues[0]!.message.replace(/\.$/, '')}. Nothing was added to run ${fragment.runId}.`,
      { path: issues[0]!.path, issues, action: `Fix the planner so that its output.json holds a valid fragment, then run it again.` },
    );
  };
  if (items.length > emits.maxItems)
    refuse([
      { path: '$.items', message: `holds ${items.length} items, more than the emitter's emits.maxItems (${emits.maxItems})`, code: 'CAIRN_RUN_SPEC_INVALID' },
    ]);
  if (fragment.itemCount + items.length > maxRunItems)
    refuse([
      {
        path: '$.items',
        message: `would take the run to ${fragment.itemCount + items.length} items, more than the ${maxRunItems} a run may hold`,
        code: 'CAIRN_RUN_SPEC_TOO_LARGE',
      },
    ]);

  // An empty fragment adds nothing (a spec of its own would need an item).
  if (items.length === 0) return { digest, items: [], edges: [], sinks: [] };
  // Checked as a spec of its own: its items first (their paths are the fragment's), then a stand-in
  // for each item of the run they name that is not one of theirs, so that naming it is no error.
  const own = new Set(items.map((item) => (isObject(item) && typeof item['id'] === 'string' ? item['id'] : undefined)));
  const named = new Set<string>();
  for (const item of items) for (const name of namesIn(item)) if (!own.has(name)) named.add(name);
  const standIns = [...named].filter((name) => fragment.itemState(name) !== undefined).map((id) => ({ id, runtime: { kind: 'command', argv: ['true'] } }));
  const document = {
    version: 1,
    name: fragment.runSpec.name,
    ...(fragment.runSpec.defaults === undefined ? {} : { defaults: fragment.runSpec.defaults }),
    items: [...items, ...standIns],
  };
  const checked = validateRunSpec(document, fragment.context);
  if (!checked.ok) refuse(checked.issues);
  const specs = checked.ok ? checked.spec.items.slice(0, items.length) : [];

  const issues: ValidationIssue[] = [];
  const depth = emitterId.split('/').length;
  const ids = new Set(specs.map((item) => item.id));
  specs.forEach((item, index) => {
    item.dependsOn?.forEach((name, position) => {
      if (!ids.has(name)) issues.push(...finished(name, `$.items[${index}].dependsOn[${position}]`, fragment));
    });
    for (const [input, need] of Object.entries(item.needs ?? {}))
      if (!ids.has(need.from)) issues.push(...finished(need.from, `$.items[${index}].needs.${input}.from`, fragment));
    if (item.runtime.kind === 'merge')
      item.runtime.from.forEach((name, position) => {
        if (!ids.has(name)) issues.push(...finished(name, `$.items[${index}].runtime.from[${position}]`, fragment));
      });
    if (item.runtime.kind === 'deliver' && !ids.has(item.runtime.from)) issues.push(...finished(item.runtime.from, `$.items[${index}].runtime.from`, fragment));
    // A forEach item expands when the item it maps over succeeds: one of the run's has already.
    if (item.forEach !== undefined && !ids.has(item.forEach.from))
      issues.push({
        path: `$.items[${index}].forEach.from`,
        message: `names ${JSON.stringify(item.forEach.from)}, which is no item of the fragment: an emitted forEach item maps over the output of an item emitted with it (it expands when that item succeeds)`,
        code: 'CAIRN_RUN_SPEC_INVALID',
      });
    item.secrets?.forEach((secret, position) => {
      if (!fragment.secrets.has(secret))
        throw new CairnError(
          'CAIRN_FORBIDDEN',
          `The fragment item ${emitterId} emitted names secret ${secret} (output.json $.items[${index}].secrets[${position}]), which no item of run ${fragment.runId} was granted at submit: emitted items may use only the secrets the run's submitter granted. Nothing was added.`,
          { path: `$.items[${index}].secrets[${position}]`, details: { secret } },
        );
    });
    if (item.emits !== undefined && (emits.maxDepth ?? 1) < 2)
      issues.push({
        path: `$.items[${index}].emits`,
        message: `would emit at depth ${depth + 1}, past the emitter's emits.maxDepth (${emits.maxDepth ?? 1}): raise maxDepth on ${emitterId}, or emit these items from it`,
        code: 'CAIRN_RUN_SPEC_INVALID',
      });
  });
  if (issues.length > 0) refuse(issues);

  // Namespaced under the emitter; references to the run's items (the emitter's included) kept as named.
  const scoped = (name: string) => (ids.has(name) ? `${emitterId}/${name}` : name);
  const edges: [string, string][] = [];
  const prerequisites = new Set<string>();
  const namespaced = specs.map((item): ItemSpec => {
    const id = scoped(item.id);
    for (const prerequisite of prerequisitesOf(item)) {
      if (!ids.has(prerequisite)) continue;
      edges.push([scoped(prerequisite), id]);
      prerequisites.add(scoped(prerequisite));
    }
    return {
      ...item,
      id,
      ...(item.dependsOn === undefined ? {} : { dependsOn: item.dependsOn.map(scoped) }),
      ...(item.needs === undefined
        ? {}
        : { needs: Object.fromEntries(Object.entries(item.needs).map(([input, need]) => [input, { ...need, from: scoped(need.from) }])) }),
      ...(item.runtime.kind === 'merge' ? { runtime: { ...item.runtime, from: item.runtime.from.map(scoped) } } : {}),
      ...(item.runtime.kind === 'deliver' ? { runtime: { ...item.runtime, from: scoped(item.runtime.from) } } : {}),
      ...(item.forEach === undefined ? {} : { forEach: { ...item.forEach, from: scoped(item.forEach.from) } }),
      // An emitted planner nests no deeper than its emitter lets it.
      ...(item.emits === undefined ? {} : { emits: { ...item.emits, maxDepth: Math.min(item.emits.maxDepth ?? 1, (emits.maxDepth ?? 1) - 1) } }),
    };
  });
  return { digest, items: namespaced, edges, sinks: namespaced.map((item) => item.id).filter((id) => !prerequisites.has(id)) };
}

/** The `items` of a planner's output.json, or why there are none. */
function fragmentItems(output: Uint8Array, emitterId: string): unknown[] {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(output));
  } catch {
    value = undefined;
  }
  const items = isObject(value) ? value['items'] : undefined;
  if (!Array.isArray(items))
    throw new CairnError(
      'CAIRN_RUN_SPEC_INVALID',
      `Item ${emitterId} emits items, but its output.json holds no "items" array ($.items): write {"items": [...]} (a run-spec fragment; an empty list adds nothing).`,
      { path: '$.items' },
    );
  return items;
}

/** Problems with an item an emitted one names outside its fragment: it must have succeeded (the emitter is succeeding now). */
function finished(name: string, path: string, fragment: FragmentContext): ValidationIssue[] {
  if (name === fragment.emitterId) return [];
  const state = fragment.itemState(name);
  if (state === 'succeeded') return [];
  return [
    {
      path,
      message:
        state === undefined
          ? `names ${JSON.stringify(name)}, which is no item of the fragment nor of the run`
          : `names item ${name} of the run, which is ${state}: an emitted item may depend on the emitter, on its fragment's items and on items that have succeeded`,
      code: 'CAIRN_RUN_SPEC_INVALID',
    },
  ];
}

/** The item ids an item names (dependsOn, needs.from, forEach.from, a merge's runtime.from) as written, whatever else is wrong with it. */
function namesIn(item: unknown): string[] {
  if (!isObject(item)) return [];
  const names: string[] = [];
  if (Array.isArray(item['dependsOn'])) for (const name of item['dependsOn']) if (typeof name === 'string') names.push(name);
  if (isObject(item['needs']))
    for (const need of Object.values(item['needs'])) if (isObject(need) && typeof need['from'] === 'string') names.push(need['from']);
  if (isObject(item['forEach']) && typeof item['forEach']['from'] === 'string') names.push(item['forEach']['from']);
  const runtime = item['runtime'];
  if (isObject(runtime) && runtime['kind'] === 'merge' && Array.isArray(runtime['from']))
    for (const name of runtime['from']) if (typeof name === 'string') names.push(name);
  if (isObject(runtime) && runtime['kind'] === 'deliver' && typeof runtime['from'] === 'string') names.push(runtime['from']);
  return names;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks a fragment (a planner's `output.json`) against the spec of the run it would join, as the
 * engine will when `emitterId` succeeds (`cairn validate --fragment`), offline: the run's items that
 * do not wait on the planner are taken as succeeded, those that do as blocked, and nothing is known
 * of a server (its executors, queues, adapters and secrets are not checked). Returns the items it
 * would add, namespaced; throws as `checkFragment` does, or CAIRN_PAYLOAD_INVALID when the item is
 * no planner of the spec.
 */
export function checkFragmentAgainstSpec(spec: RunSpecV1, emitterId: string, output: Uint8Array): CheckedFragment {
  const declared = spec.items.find((item) => item.id === emitterId);
  if (declared?.emits === undefined)
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      declared === undefined ? `The spec has no item ${JSON.stringify(emitterId)} to emit this fragment.` : `Item ${emitterId} has no emits: it adds no items.`,
      { path: '--emitted-by' },
    );
  // The items that wait on the planner, directly or not: not finished when it succeeds.
  const downstream = new Set([emitterId]);
  for (let grew = true; grew;) {
    grew = false;
    for (const item of spec.items) {
      if (downstream.has(item.id) || !prerequisitesOf(item).some((prerequisite) => downstream.has(prerequisite))) continue;
      downstream.add(item.id);
      grew = true;
    }
  }
  return checkFragment(output, sha256Digest(output), {
    runId: spec.name,
    runSpec: spec,
    emitterId,
    emitter: withDefaults(spec, declared),
    itemState: (itemId) =>
      !spec.items.some((item) => item.id === itemId) ? undefined : itemId === emitterId ? 'running' : downstream.has(itemId) ? 'blocked' : 'succeeded',
    itemCount: spec.items.length,
    secrets: new Set(spec.items.flatMap((item) => item.secrets ?? [])),
  });
}
