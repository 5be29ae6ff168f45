import type { AuditEntry, EvidenceBundleV1, JsonObject, JsonValue } from '@cairn/core';
import { digestOfJson, parseJsonPath, selectJsonPath } from '@cairn/protocol';

/**
 * Whether a bundle's entries are about exactly the run's graph: the spec's items plus the items of
 * each fragment a `run.extended` entry names (namespaced under its planner, as the engine adds
 * them, ADR 0034), each fragment carried in `$.fragments` and hashing to its digest, no fragment
 * carried that no entry names; no entry names another item; and, the run having ended, every item
 * of that graph has the entry saying how it ended. A merge's re-run of a producer (`onConflict:
 * rerun`, ADR 0035) adds the one item `<merge>/<producer>` its entry names, with no fragment.
 * Undefined when so; otherwise what is wrong.
 */
export function runGraphProblem(bundle: EvidenceBundleV1): string | undefined {
  const fragments = new Map((bundle.fragments ?? []).map((fragment) => [fragment.digest, fragment.fragment]));
  const items = new Set(bundle.spec.items.map((item) => item.id));
  const named = new Set<string>();
  // An index loop, not entries(): a pair per entry of a million costs more than the test it feeds.
  for (let position = 0; position < bundle.entries.length; position++) {
    const entry = bundle.entries[position]!;
    if (entry.action !== 'run.extended') continue;
    const { emitter, fragment: digest, items: count, rerun } = entry.data;
    const at = `$.entries[${position}] (run.extended)`;
    if (typeof emitter === 'string' && isObject(rerun ?? null)) {
      const problem = rerunProblem(at, emitter, rerun as JsonObject, count, items);
      if (problem !== undefined) return problem;
      continue;
    }
    if (typeof emitter !== 'string' || typeof digest !== 'string' || typeof count !== 'number') return `${at} does not name an emitter, a fragment and a count`;
    if (!items.has(emitter)) return `${at} names emitter ${emitter}, which is no item of the run before it`;
    const fragment = fragments.get(digest as never);
    if (fragment === undefined) return `${at} names fragment ${digest}, which $.fragments does not carry`;
    if (digestOfJson(fragment) !== digest) return `$.fragments: the fragment ${digest} hashes to ${digestOfJson(fragment)}`;
    // A forEach item's instances are one per element at its path (`<item>/<index>`); a planner's, its items.
    const path = entry.data['path'];
    const selected = typeof path === 'string' ? mapped(fragment, path) : isObject(fragment) ? fragment['items'] : undefined;
    const emitted = Array.isArray(selected) ? selected : [];
    if (emitted.length !== count)
      return `${at} says ${count} items were added, but its fragment holds ${emitted.length}${typeof path === 'string' ? ` at ${path}` : ''}`;
    for (const [index, item] of emitted.entries()) {
      const id = typeof path === 'string' ? String(index) : typeof item === 'object' && item !== null && !Array.isArray(item) ? item['id'] : undefined;
      if (typeof id !== 'string') return `$.fragments: an item of fragment ${digest} has no id`;
      items.add(`${emitter}/${id}`);
    }
    named.add(digest);
  }
  const unnamed = [...fragments.keys()].find((digest) => !named.has(digest));
  if (unnamed !== undefined) return `$.fragments carries ${unnamed}, which no run.extended entry names`;
  const ended = new Set<string>();
  // Made once: a template per entry is a good part of this loop over a million of them.
  const runPrefix = `${bundle.runId}/`;
  // An item's entries mostly come one after another: the last item found is not looked up again,
  // and only an item.* action is looked for among the endings (a million lookups of strings
  // that are hashed afresh each time otherwise).
  let found: string | undefined;
  for (let position = 0; position < bundle.entries.length; position++) {
    const entry = bundle.entries[position]!;
    const itemId = itemOf(entry, runPrefix);
    if (itemId === undefined) continue;
    if (itemId !== found) {
      if (!items.has(itemId)) return `$.entries[${position}] (${entry.action}) is about item ${itemId}, which neither the spec nor a fragment holds`;
      found = itemId;
    }
    if (entry.action.startsWith('item.') && endingActions.has(entry.action)) ended.add(itemId);
  }
  const silent = [...items].find((itemId) => !ended.has(itemId));
  if (silent !== undefined) return `item ${silent} has no entry saying how it ended (item.succeeded, failed, skipped or cancelled): entries are missing`;
  return undefined;
}

/** What is wrong with a merge's re-run entry, adding the item it names to `items` when nothing is. */
function rerunProblem(at: string, emitter: string, rerun: JsonObject, count: JsonValue | undefined, items: Set<string>): string | undefined {
  const { item, producer } = rerun;
  if (typeof item !== 'string' || typeof producer !== 'string' || count !== 1) return `${at} does not name a re-run item, its producer and a count of 1`;
  if (!items.has(emitter)) return `${at} names merge ${emitter}, which is no item of the run before it`;
  if (!items.has(producer)) return `${at} re-runs ${producer}, which is no item of the run before it`;
  if (item !== `${emitter}/${producer}`) return `${at} names re-run item ${item}, not ${emitter}/${producer}`;
  if (items.has(item)) return `${at} adds ${item}, which the run already holds`;
  items.add(item);
  return undefined;
}

const endingActions = new Set(['item.succeeded', 'item.failed', 'item.skipped', 'item.cancelled']);

/** The item an entry is about, if any: an item entry's entity (`<runPrefix><item>`), or the item its data names. */
function itemOf(entry: AuditEntry, runPrefix: string): string | undefined {
  if (entry.entity.kind === 'item') return entry.entity.id.startsWith(runPrefix) ? entry.entity.id.slice(runPrefix.length) : entry.entity.id;
  const itemId = entry.data['itemId'];
  return typeof itemId === 'string' ? itemId : undefined;
}

/** What a `forEach` mapped over: the value at `path` in the output, or undefined. */
function mapped(output: JsonValue, path: string): JsonValue | undefined {
  const steps = parseJsonPath(path);
  const selected = steps === undefined ? undefined : selectJsonPath(output, steps);
  return selected !== undefined && 'found' in selected ? selected.found : undefined;
}

function isObject(value: JsonValue): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
