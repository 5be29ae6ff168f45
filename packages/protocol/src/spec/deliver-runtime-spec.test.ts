import type { ItemSpec, RunSpecV1 } from '@cairn/core';
import { describe, expect, test } from 'vitest';
import { fillDeliverPlaceholders, loadRunSpec, runSpecJsonSchema, validateRunSpec } from '../index.ts';
import { issuesOf } from './run-spec.test-support.ts';

const command = (id: string, extra: Partial<ItemSpec> = {}): ItemSpec => ({ id, runtime: { kind: 'command', argv: ['true'] }, ...extra });
const runtime = { kind: 'deliver', forge: 'origin', from: 'fix', branch: 'cairn/fix-{runId}', base: 'main', title: 'Fix it ({runId})' };

/** A producer `fix` and a deliver item `ship` with `runtime` fields and item fields as given. */
function deliverSpec(fields: Record<string, unknown> = {}, extra: Record<string, unknown> = {}, items: ItemSpec[] = [command('fix')]): RunSpecV1 {
  return { version: 1, name: 'ship', items: [...items, { id: 'ship', runtime: { ...runtime, ...fields }, ...extra } as ItemSpec] };
}

describe('a deliver runtime', () => {
  test('is accepted from YAML, and the forge is checked against what the server has', () => {
    const loaded = loadRunSpec(`version: 1
name: ship
items:
  - { id: fix, runtime: { kind: command, argv: ["true"] } }
  - id: ship
    approval: required
    runtime: { kind: deliver, forge: origin, from: fix, branch: "cairn/fix-{runId}", base: main, title: "Fix it", body: "Closes #12" }
`);
    expect(loaded.spec.items[1]!.runtime).toMatchObject({ kind: 'deliver', forge: 'origin', from: 'fix', body: 'Closes #12' });
    expect(validateRunSpec(deliverSpec(), { forges: ['origin', 'github'] }).ok).toBe(true);
    const unknown = validateRunSpec(deliverSpec({ forge: 'orign' }), { forges: ['origin'] });
    expect(unknown.ok ? [] : unknown.issues).toEqual([
      {
        code: 'CAIRN_RUN_SPEC_INVALID',
        path: '$.items[1].runtime.forge',
        message: 'names no forge this server knows: "orign"; did you mean "origin"? Known: origin.',
      },
    ]);
    const none = validateRunSpec(deliverSpec(), { forges: [] });
    expect(none.ok ? [] : none.issues.map((issue) => [issue.path, issue.message.slice(0, 60)])).toEqual([
      ['$.items[1].runtime.forge', 'names the forge "origin", but this server has no forges: con'],
    ]);
  });

  test('refuses a from that names no item, itself, a deliver item or a forEach item, each at runtime.from', () => {
    expect(issuesOf(deliverSpec({ from: 'fx' })).map((issue) => [issue.path, issue.message])).toEqual([
      ['$.items[1].runtime.from', 'names no item of this run: "fx". Use the id of an item in items.'],
    ]);
    expect(issuesOf(deliverSpec({ from: 'ship' }))[0]!.message).toMatch(/cannot deliver its own patch/);
    const twice = deliverSpec({ from: 'first' }, {}, [command('fix'), { id: 'first', runtime: { ...runtime } } as ItemSpec]);
    expect(issuesOf(twice).map((issue) => [issue.path, issue.message.slice(0, 45)])).toEqual([
      ['$.items[2].runtime.from', '"first" is a deliver item, which makes no pat'],
    ]);
    const mapped = deliverSpec({ from: 'each' }, {}, [
      command('list'),
      command('each', { forEach: { from: 'list', select: 'output', path: '$.files', maxItems: 3 } }),
    ]);
    expect(issuesOf(mapped).map((issue) => issue.path)).toEqual(['$.items[2].runtime.from']);
  });

  test('refuses what cannot work on a deliver item: inputs, secrets, an executor, forEach, emits, an effect other than write-impure', () => {
    const issues = issuesOf(
      deliverSpec(
        {},
        {
          needs: { p: { from: 'fix', select: 'patch' } },
          apply: ['p'],
          secrets: ['TOKEN'],
          env: { A: 'b' },
          executor: 'local',
          emits: { maxItems: 3 },
          effect: 'pure',
        },
      ),
    );
    expect(issues.map((issue) => issue.path)).toEqual([
      '$.items[1].needs',
      '$.items[1].apply',
      '$.items[1].secrets',
      '$.items[1].env',
      '$.items[1].executor',
      '$.items[1].emits',
      '$.items[1].effect',
    ]);
    expect(issuesOf(deliverSpec({}, { forEach: { from: 'fix', select: 'output', path: '$.x', maxItems: 2 } })).map((issue) => issue.path)).toContain(
      '$.items[1].forEach',
    );
  });

  test("refuses the deliver executor for any other item, and as the run's default", () => {
    const spec = deliverSpec({}, {}, [command('fix', { executor: 'deliver' })]);
    spec.defaults = { executor: 'deliver' };
    expect(issuesOf(spec).map((issue) => [issue.path, issue.message.slice(0, 60)])).toEqual([
      ['$.defaults.executor', 'names the deliver executor, which runs only deliver items (r'],
      ['$.items[0].executor', 'names the deliver executor, which runs only deliver items (r'],
    ]);
  });

  test('refuses a full ref as a branch or a base, naming the branch to write instead', () => {
    const issues = issuesOf(deliverSpec({ branch: 'refs/heads/main', base: 'refs/heads/trunk' }));
    expect(issues.map((issue) => [issue.path, issue.message])).toEqual([
      ['$.items[1].runtime.branch', 'must be a branch name, not a full ref: write "main", not "refs/heads/main".'],
      ['$.items[1].runtime.base', 'must be a branch name, not a full ref: write "main", not "refs/heads/main".'],
    ]);
  });

  test('refuses a branch git would refuse and a title on two lines; {runId} is filled as a branch can hold it', () => {
    expect(issuesOf(deliverSpec({ branch: 'cairn/..fix', base: 'main branch', title: 'one\ntwo', forge: '' })).map((issue) => issue.path)).toEqual([
      '$.items[1].runtime.forge',
      '$.items[1].runtime.branch',
      '$.items[1].runtime.base',
      '$.items[1].runtime.title',
    ]);
    expect(fillDeliverPlaceholders('cairn/fix-{runId}', 'nightly@2026-11-27T08:00:00Z', 'branch')).toBe('cairn/fix-nightly-2026-11-27T08-00-00Z');
    expect(fillDeliverPlaceholders('Fix ({runId})', 'nightly@2026-11-27T08:00:00Z', 'title')).toBe('Fix (nightly@2026-11-27T08:00:00Z)');
  });

  test('is in the JSON schema, with its fields described', () => {
    const text = JSON.stringify(runSpecJsonSchema());
    expect(text).toContain('"deliver"');
    expect(text).toContain('The branch pushed, e.g. cairn/fix-{runId}');
  });
});
