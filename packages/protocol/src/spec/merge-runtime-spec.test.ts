import type { ItemSpec, RunSpecV1 } from '@cairn/core';
import { describe, expect, test } from 'vitest';
import { loadRunSpec, runSpecJsonSchema, validateRunSpec } from '../index.ts';
import { issuesOf } from './run-spec.test-support.ts';

const command = (id: string, extra: Partial<ItemSpec> = {}): ItemSpec => ({ id, runtime: { kind: 'command', argv: ['true'] }, ...extra });

/** Three producers and a merge of them; `from` and extra fields of the merge item as given. */
function mergeSpec(from: unknown, extra: Record<string, unknown> = {}): RunSpecV1 {
  return {
    version: 1,
    name: 'fan-in',
    items: [command('a'), command('b'), command('c', { dependsOn: ['a'] }), { id: 'm', runtime: { kind: 'merge', from }, ...extra } as ItemSpec],
  };
}

describe('a merge runtime', () => {
  test('is accepted with its items in dependency order, written as YAML, onConflict: fail or left out', () => {
    const loaded = loadRunSpec(`version: 1
name: fan-in
items:
  - { id: a, runtime: { kind: command, argv: ["true"] } }
  - { id: b, runtime: { kind: command, argv: ["true"] } }
  - { id: c, dependsOn: [a], runtime: { kind: command, argv: ["true"] } }
  - { id: m, runtime: { kind: merge, from: [a, b, c], onConflict: fail } }
`);
    expect(loaded.spec.items[3]!.runtime).toEqual({ kind: 'merge', from: ['a', 'b', 'c'], onConflict: 'fail' });
    expect(validateRunSpec(mergeSpec(['b', 'a', 'c'])).ok).toBe(true);
  });

  test('refuses an empty from, an unknown item, a repeat and the item itself, each at its path', () => {
    expect(issuesOf(mergeSpec([]))).toEqual([
      { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[3].runtime.from', message: 'must name at least one item whose patch is merged: from: [item, ...].' },
    ]);
    expect(issuesOf(mergeSpec(['a', 'bb', 'a', 'm']))).toEqual([
      { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[3].runtime.from[1]', message: 'names no item of this run: "bb". Use the id of an item in items.' },
      {
        code: 'CAIRN_RUN_SPEC_INVALID',
        path: '$.items[3].runtime.from[2]',
        message: '"a" is listed twice; merge each item\'s patch once and remove the repeat.',
      },
      { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[3].runtime.from[3]', message: 'a merge item cannot merge its own patch ("m"); remove this entry.' },
    ]);
  });

  test('refuses an item listed before one it depends on, directly or not', () => {
    expect(issuesOf(mergeSpec(['c', 'b', 'a']))).toEqual([
      {
        code: 'CAIRN_RUN_SPEC_INVALID',
        path: '$.items[3].runtime.from[0]',
        message:
          '"c" depends on "a", which is listed after it (runtime.from[2]); list "a" first: patches are merged in this order, and an item\'s patch may be made on top of those it depends on.',
      },
    ]);
    const chain = mergeSpec(['d', 'a']);
    chain.items.push(command('d', { dependsOn: ['c'] }));
    expect(issuesOf(chain).map((issue) => [issue.path, issue.message.slice(0, 40)])).toEqual([
      ['$.items[3].runtime.from[0]', '"d" depends on "a", which is listed afte'],
    ]);
  });

  test('makes the merge item wait for its items: a producer that depends on the merge closes a cycle', () => {
    const spec = mergeSpec(['a', 'b']);
    spec.items[0]!.dependsOn = ['m'];
    expect(issuesOf(spec)).toEqual([
      {
        code: 'CAIRN_RUN_SPEC_INVALID',
        path: '$.items[3].runtime.from[0]',
        message: 'closes a cycle: a → m → a (each waits for the next). Remove one of these dependencies.',
      },
    ]);
  });

  test('refuses needs and apply on a merge item, and a policy other than fail', () => {
    expect(issuesOf(mergeSpec(['a'], { needs: { x: { from: 'b', select: 'patch' } }, apply: ['x'] }))).toEqual([
      {
        code: 'CAIRN_RUN_SPEC_INVALID',
        path: '$.items[3].needs',
        message: 'must be left out of a merge item: it merges the patches of runtime.from; list the items there.',
      },
      {
        code: 'CAIRN_RUN_SPEC_INVALID',
        path: '$.items[3].apply',
        message: 'must be left out of a merge item: it merges the patches of runtime.from; list the items there.',
      },
    ]);
    const spec = mergeSpec(['a']);
    (spec.items[3]!.runtime as unknown as Record<string, unknown>)['onConflict'] = 'theirs';
    expect(issuesOf(spec).map((issue) => issue.path)).toEqual(['$.items[3].runtime.onConflict']);
  });

  test('with onConflict: rerun, refuses producers it could not run again, each at its path', () => {
    const spec = mergeSpec(['a', 'b', 'c', 'p', 'e', 'x']);
    (spec.items[3]!.runtime as { onConflict?: string }).onConflict = 'rerun';
    spec.items.push(command('p', { needs: { base: { from: 'a', select: 'patch' } }, apply: ['base'] }), command('e', { emits: { maxItems: 3 } }), {
      id: 'x',
      runtime: { kind: 'merge', from: ['b'] },
    });
    expect(issuesOf(spec).map((issue) => [issue.path, issue.message.slice(0, issue.message.indexOf(','))])).toEqual([
      ['$.items[3].runtime.from[3]', '"p" applies patches (a re-run applies what was merged before it instead)'],
      ['$.items[3].runtime.from[4]', '"e" emits items (a re-run would add them again)'],
      ['$.items[3].runtime.from[5]', '"x" is a merge'],
    ]);
    expect(issuesOf(spec)[0]!.message).toContain('use onConflict: fail, or merge only items that run a program (command or agent) without emits or apply.');
    const plain = mergeSpec(['a', 'b', 'c']);
    (plain.items[3]!.runtime as { onConflict?: string }).onConflict = 'rerun';
    expect(validateRunSpec(plain).ok).toBe(true);
  });

  test('graph rules still read a merge of a spec whose shape is wrong elsewhere', () => {
    const spec = mergeSpec(['a', 'zz']) as unknown as { items: Record<string, unknown>[] };
    spec.items[0]!['timeout'] = 'soon';
    expect(issuesOf(spec).map((issue) => issue.path)).toEqual(['$.items[0].timeout', '$.items[3].runtime.from[1]']);
  });

  test('is described in the JSON Schema', () => {
    const text = JSON.stringify(runSpecJsonSchema());
    expect(text).toContain('"merge"');
    expect(text).toContain('whose patches are merged, in this order');
  });
});
