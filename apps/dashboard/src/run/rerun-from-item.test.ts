import type { RunSpecV1 } from '@cairn/core';
import { expect, test } from 'vitest';
import { rerunPlan } from './rerun-from-item.ts';

const command = { kind: 'command' as const, argv: ['true'] };
const spec = {
  version: 1,
  name: 'build',
  items: [
    { id: 'fetch', runtime: command, effect: 'pure' },
    { id: 'lint', runtime: command },
    { id: 'compile', runtime: command, effect: 'pure', dependsOn: ['fetch'] },
    { id: 'test', runtime: command, dependsOn: ['compile', 'lint'] },
    { id: 'publish', runtime: command, dependsOn: ['test'] },
  ],
} as RunSpecV1;
const edges = [
  { from: 'fetch', to: 'compile' },
  { from: 'compile', to: 'test' },
  { from: 'lint', to: 'test' },
  { from: 'test', to: 'publish' },
];

test('of the items a failed one waits on, the pure ones that succeeded are reused and the others run again', () => {
  const states = new Map([
    ['fetch', 'succeeded'],
    ['lint', 'succeeded'],
    ['compile', 'succeeded'],
    ['test', 'failed'],
    ['publish', 'skipped'],
  ]);
  expect(rerunPlan('test', spec, edges, states)).toEqual({ reused: ['compile', 'fetch'], rerun: ['lint'] });
  // Nothing downstream of it counts: what waits on the failed item runs again anyway.
  expect(rerunPlan('compile', spec, edges, new Map([...states, ['compile', 'failed']]))).toEqual({ reused: ['fetch'], rerun: [] });
});

test('a pure item that did not succeed runs again, and an item added as the run grew (no spec) runs again', () => {
  const states = new Map([
    ['fetch', 'failed'],
    ['plan/one', 'succeeded'],
  ]);
  expect(rerunPlan('compile', spec, [...edges, { from: 'plan/one', to: 'compile' }], states)).toEqual({ reused: [], rerun: ['fetch', 'plan/one'] });
});
