import type { ValidationIssue } from '../errors/cairn-error.ts';
import { formatJsonPath } from '../json/json-path.ts';
import { runSpecLimits } from './run-spec-limits.ts';

/** Keys that reach Object.prototype or constructors when merged into a plain object. */
const forbiddenKeys = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Problems of a parsed document that must be caught before any schema looks at it: keys that
 * would pollute prototypes, nesting deeper than `runSpecLimits.depth`, and values that are not
 * JSON. Iterative, so a hostile document cannot overflow the stack, and depth-first with one frame
 * per enclosing object: its memory grows with the nesting (at most the depth limit), never with
 * the size of the document (a 100,000-item spec is walked without a copy of anything).
 */
export function documentHazards(document: unknown): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  // The path to the value being inspected, and the objects and arrays that enclose it.
  const segments: (string | number)[] = [];
  const frames: { readonly value: object; readonly keys: readonly string[] | undefined; next: number }[] = [];
  const report = (code: ValidationIssue['code'], message: string, key?: string) => {
    issues.push({ code, path: formatJsonPath(key === undefined ? segments : [...segments, key]), message });
  };
  // Checks one value; an object or array to descend into becomes a frame.
  const inspect = (value: unknown): void => {
    if (typeof value !== 'object' || value === null) {
      if (typeof value === 'number' && !Number.isFinite(value)) report('CAIRN_RUN_SPEC_INVALID', `${value} is not a finite number; write a plain number.`);
      return;
    }
    if (segments.length >= runSpecLimits.depth) {
      report('CAIRN_RUN_SPEC_TOO_LARGE', `nesting is deeper than ${runSpecLimits.depth} levels; a run spec never needs that much.`);
      return;
    }
    if (Array.isArray(value)) {
      frames.push({ value, keys: undefined, next: 0 });
      return;
    }
    const prototype = Object.getPrototypeOf(value);
    if (prototype !== Object.prototype && prototype !== null) {
      report('CAIRN_RUN_SPEC_INVALID', 'is not plain JSON data (a date, a binary or a class instance); write it as a string.');
      return;
    }
    frames.push({ value, keys: Object.keys(value), next: 0 });
  };
  inspect(document);
  while (frames.length > 0 && issues.length < 100) {
    const frame = frames.at(-1)!;
    const size = frame.keys ? frame.keys.length : (frame.value as unknown[]).length;
    if (frame.next >= size) {
      frames.pop();
      segments.pop(); // the root frame has no segment: popping an empty path is a no-op
      continue;
    }
    const segment = frame.keys ? frame.keys[frame.next]! : frame.next;
    frame.next++;
    if (typeof segment === 'string' && forbiddenKeys.has(segment)) {
      report('CAIRN_RUN_SPEC_INVALID', `the key ${JSON.stringify(segment)} is not allowed anywhere in a run spec; rename it.`, segment);
      continue;
    }
    segments.push(segment);
    const enclosing = frames.length;
    inspect((frame.value as Record<string | number, unknown>)[segment]);
    // A value that opened no frame is done with: its segment goes now.
    if (frames.length === enclosing) segments.pop();
  }
  return issues.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
