import { expect, test } from 'vitest';
import { parseLabelSelector } from './label-selector.ts';

const labels = { app: 'cairn', tier: 'worker', 'cairn.dev/run': 'r1' };

test.each([
  ['', true],
  ['app=cairn', true],
  ['app==cairn,tier=worker', true],
  ['app!=cairn', false],
  ['missing!=x', true],
  ['tier in (worker, server)', true],
  ['tier notin (worker)', false],
  ['cairn.dev/run', true],
  ['!cairn.dev/run', false],
  ['!missing,app in (cairn)', true],
])('%j selects %s', (selector, expected) => {
  expect(parseLabelSelector(selector)(labels)).toBe(expected);
});

test.each(['app=', 'tier in (', 'a b', 'app=bad value', '-bad=x'])('%j is refused or matches nothing it should not', (selector) => {
  let predicate: ((value: Record<string, string>) => boolean) | undefined;
  try {
    predicate = parseLabelSelector(selector);
  } catch (error) {
    expect((error as Error).message).toMatch(/^unable to parse requirement/);
    return;
  }
  // `app=` is valid: the empty value, which `app: cairn` does not have.
  expect(predicate(labels)).toBe(false);
});
