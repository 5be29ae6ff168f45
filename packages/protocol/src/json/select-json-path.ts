import type { JsonValue } from '@cairn/core';

/** What a JSON path selects: `$`, then `.name` and `[index]` steps (`$.tests`, `$.runs[0].failures`). */
export type JsonPathStep = string | number;

const stepPattern = /\.([A-Za-z_][\w-]*)|\[(\d{1,9})\]/y;

/** The steps of a path in the subset Cairn reads (`$`, `.name`, `[index]`), or undefined when it is not one. */
export function parseJsonPath(path: string): JsonPathStep[] | undefined {
  if (!path.startsWith('$')) return undefined;
  const steps: JsonPathStep[] = [];
  stepPattern.lastIndex = 1;
  while (stepPattern.lastIndex < path.length) {
    const start = stepPattern.lastIndex;
    const match = stepPattern.exec(path);
    if (match === null || match.index !== start) return undefined;
    steps.push(match[1] !== undefined ? match[1] : Number(match[2]));
  }
  return steps;
}

/**
 * The value at `steps` in `value`, or where the walk stopped: the path up to the step that found
 * nothing (`$.tests` when `tests` is missing, or when it is no array for `[0]`).
 */
export function selectJsonPath(value: JsonValue, steps: readonly JsonPathStep[]): { readonly found: JsonValue } | { readonly missing: string } {
  let current: JsonValue = value;
  let walked = '$';
  for (const step of steps) {
    walked += typeof step === 'number' ? `[${step}]` : `.${step}`;
    if (typeof step === 'number') {
      if (!Array.isArray(current) || step >= current.length) return { missing: walked };
      current = current[step]!;
    } else {
      if (typeof current !== 'object' || current === null || Array.isArray(current) || !Object.hasOwn(current, step)) return { missing: walked };
      current = current[step]!;
    }
  }
  return { found: current };
}
