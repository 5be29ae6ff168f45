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

test('ids over 16 characters and the spend after the states: every column starts in the same place on every line', () => {
  const spend = (costUsd: number, inputTokens: number) => ({
    calls: 1,
    succeeded: 1,
    failed: 0,
    denied: 0,
    inputTokens,
    outputTokens: 10,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    costUsd,
    unknownUsage: 0,
    unknownCost: 0,
  });
  const items = [
    { itemId: 'a-very-long-item-identifier-of-40-chars', state: 'succeeded' as const },
    { itemId: 'short', state: 'ready' as const },
    { itemId: 'reviewing-the-change', state: 'awaiting-approval' as const },
  ];
  const lines = statusItemLines(items, { 'a-very-long-item-identifier-of-40-chars': spend(0.5, 90), short: spend(0.25, 190) });
  expect(lines).toEqual([
    '  a-very-long-item-identifier-of-40-chars succeeded          $0.50, 100 tokens',
    '  short                                   ready              $0.25, 200 tokens',
    '  reviewing-the-change                    awaiting-approval',
  ]);
  // Columns line up: each state starts where the first does, each spend where the first does.
  expect(new Set(lines.map((line) => line.search(/(succeeded|ready|awaiting-approval)/))).size).toBe(1);
  expect(new Set(lines.filter((line) => line.includes('$')).map((line) => line.indexOf('$'))).size).toBe(1);
});

test("items' priorities in a column of their own when any is not the run's; none when all are", () => {
  const items = [
    { itemId: 'deploy', state: 'ready' as const, priority: 5 },
    { itemId: 'lint', state: 'running' as const, priority: 3 },
    { itemId: 'report', state: 'awaiting-approval' as const, priority: 1 },
  ];
  const spend = {
    calls: 1,
    succeeded: 1,
    failed: 0,
    denied: 0,
    inputTokens: 90,
    outputTokens: 10,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    costUsd: 0.5,
    unknownUsage: 0,
    unknownCost: 0,
  };
  expect(statusItemLines(items, { lint: spend }, 3)).toEqual([
    '  deploy           ready              priority 5',
    '  lint             running            priority 3  $0.50, 100 tokens',
    '  report           awaiting-approval  priority 1',
  ]);
  expect(
    statusItemLines(
      items.map((item) => ({ ...item, priority: 3 })),
      undefined,
      3,
    ),
  ).toEqual(['  deploy           ready', '  lint             running', '  report           awaiting-approval']);
});
