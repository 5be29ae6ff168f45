import type { Digest, ItemSpec, JsonValue } from '@cairn/core';
import { CairnError, parseJsonPath, selectJsonPath } from '@cairn/protocol';
import type { CheckedFragment } from './run-fragment.ts';

/**
 * The instances of a `forEach` item (ADR 0034), from the output of the item it maps over: one per
 * element of the array at `forEach.path`, `<item>/0`, `<item>/1`, ..., each the item's spec without
 * its `forEach`, needing its element (that output at `path[i]`) as the input `as`. They wait on
 * nothing (the producer has succeeded), and what depends on the item waits for all of them.
 * Throws CAIRN_RUN_SPEC_INVALID, naming the item, the producer and the path, when the output is not
 * JSON, holds no array there, or holds more elements than `forEach.maxItems`.
 */
export function forEachFragment(itemId: string, spec: ItemSpec, output: Uint8Array | undefined, digest: Digest | undefined): CheckedFragment {
  const { forEach, ...template } = spec;
  const { from, path, maxItems, as = 'element' } = forEach!;
  const refuse = (why: string): never => {
    throw new CairnError('CAIRN_RUN_SPEC_INVALID', `Item ${itemId} maps over ${path} of item ${from}'s output, but ${why}. It ran no instance.`, {
      path: 'forEach.path',
      action: `Make ${from} write a JSON array at ${path} of its output.json (an empty one runs no instance), or change forEach.path.`,
    });
  };
  if (output === undefined || digest === undefined) return refuse(`${from} wrote no output.json`);
  let value: JsonValue;
  try {
    value = JSON.parse(new TextDecoder().decode(output)) as JsonValue;
  } catch {
    return refuse('that output is not JSON');
  }
  const selected = selectJsonPath(value, parseJsonPath(path)!);
  if ('missing' in selected) return refuse(`it holds nothing at ${selected.missing}`);
  const elements = selected.found;
  if (!Array.isArray(elements)) return refuse(`it holds ${elements === null ? 'null' : typeof elements} there, not an array`);
  if (elements.length > maxItems) return refuse(`it holds ${elements.length} elements there, more than forEach.maxItems (${maxItems})`);
  const items = elements.map((_, index): ItemSpec => ({
    ...template,
    id: `${itemId}/${index}`,
    needs: { [as]: { from, select: 'output', path: `${path}[${index}]` } },
  }));
  return { digest, items, edges: [], sinks: items.map((item) => item.id) };
}
