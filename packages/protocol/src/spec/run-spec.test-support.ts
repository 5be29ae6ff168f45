// Test helpers for run-spec tests (not exported from the package).
import type { RunSpecV1 } from '@cairn/core';
import { expect } from 'vitest';
import type { ValidationIssue } from '../errors/cairn-error.ts';
import { validateRunSpec } from './validate-run-spec.ts';

/** A small valid spec with the shapes of ARCHITECTURE.md, fresh on every call. */
export function sampleSpec(): RunSpecV1 {
  return {
    version: 1,
    name: 'tidy-logging',
    workspace: { path: './repo' },
    concurrency: 4,
    defaults: { executor: 'local', timeout: '10m', retry: { maxAttempts: 3, backoff: { initial: '2s', factor: 2, max: '1m' } } },
    items: [
      { id: 'edit-alpha', runtime: { kind: 'command', argv: ['node', 'tools/add-header.js', 'src/alpha.ts'] }, locks: ['file:src/shared.ts'] },
      {
        id: 'edit-beta',
        runtime: { kind: 'command', argv: ['node', 'tools/add-header.js', 'src/beta.ts'] },
        locks: [{ name: 'file:src/shared.ts', mode: 'shared' }],
      },
      { id: 'review', runtime: { kind: 'agent', adapter: 'claude-code', prompt: 'Tidy the README' }, effect: 'write-impure', approval: 'required' },
      {
        id: 'verify',
        needs: { a: { from: 'edit-alpha', select: 'patch' }, b: { from: 'edit-beta', select: 'patch' } },
        apply: ['a', 'b'],
        runtime: { kind: 'command', argv: ['npm', 'test'] },
        effect: 'pure',
      },
    ],
  };
}

/** The issues of an invalid document; fails the test when it is valid. */
export function issuesOf(document: unknown): readonly ValidationIssue[] {
  const result = validateRunSpec(document);
  if (result.ok) expect.unreachable('expected the spec to be refused');
  return result.issues;
}
