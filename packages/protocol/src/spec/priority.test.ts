import { describe, expect, test } from 'vitest';
import { itemPriority, priorityLevels, runPriority, validateRunSpec } from '../index.ts';
import { issuesOf, sampleSpec } from './run-spec.test-support.ts';

describe('priority in the run spec', () => {
  test('is accepted from 1 to 5 on the run, in defaults and on an item', () => {
    for (const level of [1, 2, 3, 4, 5] as const) {
      const spec = { ...sampleSpec(), priority: level };
      spec.items[0]!.priority = (6 - level) as typeof level;
      expect(validateRunSpec(spec).ok).toBe(true);
      const inDefaults = sampleSpec();
      inDefaults.defaults = { ...inDefaults.defaults, priority: level };
      expect(validateRunSpec(inDefaults).ok).toBe(true);
    }
  });

  test("an item's own priority overrides the run's; nothing given is the default, 3", () => {
    const spec = sampleSpec();
    expect(priorityLevels.default).toBe(3);
    expect([runPriority(spec), itemPriority(spec, spec.items[0]!)]).toEqual([3, 3]);
    spec.priority = 5;
    spec.items[1]!.priority = 1;
    expect([runPriority(spec), itemPriority(spec, spec.items[0]!), itemPriority(spec, spec.items[1]!)]).toEqual([5, 5, 1]);
    const inDefaults = sampleSpec();
    inDefaults.defaults = { priority: 2 };
    expect([runPriority(inDefaults), itemPriority(inDefaults, inDefaults.items[0]!)]).toEqual([2, 2]);
  });

  test('out of range or not a whole number is refused at its JSON path', () => {
    const spec = { ...sampleSpec(), priority: 0, defaults: { priority: 2.5 } } as Record<string, unknown>;
    const items = spec['items'] as Record<string, unknown>[];
    items[1]!['priority'] = 6;
    items[2]!['priority'] = 'high';
    const wanted = 'must be a whole number from 1 (lowest) to 5 (highest).';
    expect(issuesOf(spec)).toEqual([
      { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.priority', message: wanted },
      { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.defaults.priority', message: wanted },
      { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[1].priority', message: wanted },
      { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[2].priority', message: wanted },
    ]);
  });

  test("the run's priority given twice (priority and defaults.priority) is refused", () => {
    const spec = { ...sampleSpec(), priority: 4, defaults: { priority: 4 } };
    expect(issuesOf(spec)).toEqual([
      {
        code: 'CAIRN_RUN_SPEC_INVALID',
        path: '$.defaults.priority',
        message: "gives the run's priority a second time ($.priority is 4). Keep one of them; an item's own priority overrides either.",
      },
    ]);
  });
});
