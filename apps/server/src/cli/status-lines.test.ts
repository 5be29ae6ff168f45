import { expect, test } from 'vitest';
import { statusItemLines } from './status-lines.ts';

test("a planner's items are listed under it, indented by depth, in one column however long the ids", () => {
  const items = [
    { itemId: 'setup', state: 'succeeded' as const },
    { itemId: 'plan', state: 'succeeded' as const },
    { itemId: 'report', state: 'blocked' as const },
    { itemId: 'plan/fix-a-rather-long-item-name', state: 'running' as const },
    { itemId: 'plan/sub', state: 'succeeded' as const },
    { itemId: 'plan/sub/leaf', state: 'ready' as const },
  ];
  expect(statusItemLines(items, undefined)).toEqual([
    '  setup                              succeeded',
    '  plan                               succeeded',
    '    plan/fix-a-rather-long-item-name running',
    '    plan/sub                         succeeded',
    '      plan/sub/leaf                  ready',
    '  report                             blocked',
  ]);
});
