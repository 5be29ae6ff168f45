import type { ValidationIssue } from '../errors/cairn-error.ts';
import { formatJsonPath } from '../json/json-path.ts';
import { runSpecLimits } from './run-spec-limits.ts';

/** Keys that reach Object.prototype or constructors when merged into a plain object. */
const forbiddenKeys = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Problems of a parsed document that must be caught before any schema looks at it: keys that
 * would pollute prototypes, nesting deeper than `runSpecLimits.depth`, and values that are not
 * JSON. Iterative, so a hostile document cannot overflow the stack.
 */
export function documentHazards(document: unknown): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const pending: { value: unknown; path: (string | number)[] }[] = [{ value: document, path: [] }];
  while (pending.length > 0 && issues.length < 100) {
    const { value, path } = pending.pop()!;
    if (typeof value !== 'object' || value === null) {
      if (typeof value === 'number' && !Number.isFinite(value)) {
        issues.push({ code: 'CAIRN_RUN_SPEC_INVALID', path: formatJsonPath(path), message: `${value} is not a finite number; write a plain number.` });
      }
      continue;
    }
    if (path.length >= runSpecLimits.depth) {
      issues.push({
        code: 'CAIRN_RUN_SPEC_TOO_LARGE',
        path: formatJsonPath(path),
        message: `nesting is deeper than ${runSpecLimits.depth} levels; a run spec never needs that much.`,
      });
      continue;
    }
    if (Array.isArray(value)) {
      value.forEach((element, index) => pending.push({ value: element, path: [...path, index] }));
      continue;
    }
    const prototype = Object.getPrototypeOf(value);
    if (prototype !== Object.prototype && prototype !== null) {
      issues.push({ code: 'CAIRN_RUN_SPEC_INVALID', path: formatJsonPath(path), message: 'is not plain JSON data (a date, a binary or a class instance); write it as a string.' });
      continue;
    }
    for (const key of Object.keys(value)) {
      if (forbiddenKeys.has(key)) {
        issues.push({ code: 'CAIRN_RUN_SPEC_INVALID', path: formatJsonPath([...path, key]), message: `the key ${JSON.stringify(key)} is not allowed anywhere in a run spec; rename it.` });
        continue;
      }
      pending.push({ value: (value as Record<string, unknown>)[key], path: [...path, key] });
    }
  }
  return issues.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
