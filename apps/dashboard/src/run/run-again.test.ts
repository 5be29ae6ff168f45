import type { RunSpecV1 } from '@cairn/core';
import { expect, test } from 'vitest';
import { runAgainSpec } from './run-again.ts';

const items = [{ id: 'build', runtime: { kind: 'command', argv: ['make'] } }] as RunSpecV1['items'];
const snapshot = `sha256:${'a'.repeat(64)}`;

test('run again: the same spec without its idempotency key, on the snapshot it ran on', () => {
  const spec = { version: 1, name: 'nightly', idempotencyKey: 'nightly-1', workspace: { path: './repo', snapshot }, items } as RunSpecV1;
  expect(runAgainSpec(spec, undefined)).toEqual({ version: 1, name: 'nightly', workspace: { snapshot }, items });
});

test("a repository's workspace is pinned to the snapshot the server fetched, not fetched again from its ref", () => {
  const spec = { version: 1, name: 'fix', workspace: { repository: 'https://example.com/repo.git', ref: 'main' }, items } as RunSpecV1;
  expect(runAgainSpec(spec, { snapshot })).toEqual({ version: 1, name: 'fix', workspace: { snapshot }, items });
  expect(runAgainSpec({ version: 1, name: 'bare', items } as RunSpecV1, undefined)).toEqual({ version: 1, name: 'bare', items });
});
