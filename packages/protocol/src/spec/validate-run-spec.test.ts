import { describe, expect, test } from 'vitest';
import { canonicalJson, digestOfJson, isCairnError, loadRunSpec, parseRunSpec, runSpecLimits, validateRunSpec } from '../index.ts';
import { issuesOf, sampleSpec } from './run-spec.test-support.ts';

describe('validateRunSpec accepts', () => {
  test('the sample spec of the design, and returns its canonical JSON and the digest of that', () => {
    const spec = sampleSpec();
    const result = validateRunSpec(spec);
    expect(result).toEqual({ ok: true, spec, digest: digestOfJson(spec), canonical: canonicalJson(spec) });
  });

  test('the same spec written as YAML and as JSON, with the same digest', () => {
    const json = JSON.stringify(sampleSpec());
    const yaml = `version: 1
name: tidy-logging
workspace: { path: ./repo }
concurrency: 4
defaults:
  executor: local
  timeout: 10m
  retry: { maxAttempts: 3, backoff: { initial: 2s, factor: 2, max: 1m } }
items:
  - id: edit-alpha
    runtime: { kind: command, argv: [node, tools/add-header.js, src/alpha.ts] }
    locks: [file:src/shared.ts]
  - id: edit-beta
    runtime: { kind: command, argv: [node, tools/add-header.js, src/beta.ts] }
    locks: [{ name: file:src/shared.ts, mode: shared }]
  - id: review
    runtime: { kind: agent, adapter: claude-code, prompt: "Tidy the README" }
    effect: write-impure
    approval: required
  - id: verify
    needs: { a: { from: edit-alpha, select: patch }, b: { from: edit-beta, select: patch } }
    apply: [a, b]
    runtime: { kind: command, argv: [npm, test] }
    effect: pure
`;
    expect(loadRunSpec(yaml).digest).toBe(loadRunSpec(json).digest);
  });

  test('lock names and label keys in namespaced forms, and label values as free text on one line', () => {
    const spec = sampleSpec();
    spec.labels = { 'app.example.com/team': 'Zoë <platform> & "ops"', 'cost:centre': '42' };
    spec.items[0]!.locks = [
      'file:src/shared.ts',
      'db/primary',
      'deploy.eu-west-1',
      'file:packages/@scope/x.ts',
      'lib/c++',
      { name: 'Cache_2', mode: 'shared' },
    ];
    spec.items[0]!.labels = { owner: 'https://example.com/a?b=c#d', empty: '' };
    expect(validateRunSpec(spec).ok).toBe(true);
  });

  test('the longest chain allowed (100,000 items) without overflowing the stack', () => {
    const items = Array.from({ length: runSpecLimits.items }, (_, index) => ({
      id: `i${index}`,
      runtime: { kind: 'command' as const, argv: ['true'] },
      ...(index === 0 ? {} : { dependsOn: [`i${index - 1}`] }),
    }));
    expect(validateRunSpec({ version: 1, name: 'chain', items }).ok).toBe(true);
  });
});

describe('validateRunSpec refuses, naming the JSON path', () => {
  test('unknown fields, with a suggestion for a near name', () => {
    const spec = { ...sampleSpec(), itmes: [] } as Record<string, unknown>;
    (spec['items'] as Record<string, unknown>[])[0]!['dependOn'] = ['edit-beta'];
    expect(issuesOf(spec)).toEqual([
      { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[0].dependOn', message: 'is not a field here; did you mean "dependsOn"? Otherwise remove it.' },
      { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.itmes', message: 'is not a field here; did you mean "items"? Otherwise remove it.' },
    ]);
  });

  test('a run name on more than one line: a line break could pass for another entry of a list or log', () => {
    for (const name of ['tidy\nrun r-1 succeeded', 'tidy\r', 'tab\there', 'bell\u0007'])
      expect(issuesOf({ ...sampleSpec(), name }).map((issue) => [issue.path, issue.message])).toEqual([
        ['$.name', 'must not hold a control character (a newline, a tab, an escape: U+0000 to U+001F, U+007F to U+009F); write it as one line of text.'],
      ]);
  });

  test('wrong types and missing fields', () => {
    expect(issuesOf({ version: '1', name: 3, items: [{ id: 'a', runtime: { kind: 'command', argv: 'make' }, network: 'yes' }] })).toEqual([
      { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.version', message: 'must be 1 (the only run spec version).' },
      { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.name', message: 'must be a string, not the number 3.' },
      { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[0].runtime.argv', message: 'must be a list, not the string "make".' },
      {
        code: 'CAIRN_RUN_SPEC_INVALID',
        path: '$.items[0].network',
        message: 'must be true (unrestricted), false (none, the default) or an allow list { allow: [host, ...], credentials: [{ host, secret, as }] }.',
      },
    ]);
    expect(issuesOf({ version: 1, items: [{ runtime: { kind: 'agent', adapter: 'x' } }] }).map((issue) => [issue.path, issue.message])).toEqual([
      ['$.name', 'is required (a string).'],
      ['$.items[0].id', 'is required (a string).'],
      ['$.items[0].runtime.prompt', 'is required (a string).'],
    ]);
  });

  test('an unknown runtime kind, a bad duration, a bad lock mode', () => {
    const spec = sampleSpec() as unknown as { items: Record<string, unknown>[] };
    spec.items[0]!['runtime'] = { kind: 'shell', argv: ['x'] };
    spec.items[1]!['timeout'] = '10 minutes';
    spec.items[1]!['locks'] = [{ name: 'db', mode: 'write' }];
    expect(issuesOf(spec).map((issue) => issue.path)).toEqual(['$.items[0].runtime.kind', '$.items[1].locks[0]', '$.items[1].timeout']);
  });

  test('approval policies out of shape: no approver needed, an empty from, a bad timeout, an unknown onTimeout', () => {
    const item = (id: string, approval: unknown) => ({ id, approval, runtime: { kind: 'command', argv: ['true'] } });
    const spec = {
      version: 1,
      name: 'policies',
      items: [
        item('a', { required: 0 }),
        item('b', { required: 2, from: [] }),
        item('c', { required: 2, timeout: '5 minutes' }),
        item('d', { required: 2, onTimeout: 'maybe' }),
        item('e', { required: 2, from: ['approver'], selfApproval: false, timeout: '2h', onTimeout: 'approve' }),
      ],
    };
    expect(issuesOf(spec).map((issue) => [issue.path, issue.message])).toEqual([
      ['$.items[0].approval.required', 'must be at least 1.'],
      ['$.items[1].approval.from', 'must name at least one role or group (leave `from` out to count anyone allowed to approve).'],
      ['$.items[2].approval.timeout', 'must be a duration: a positive whole number and one unit of ms, s, m, h or d (30s, 10m, 2h).'],
      [
        '$.items[3].approval',
        'must be required, none, or a policy { required: N, from: [role or group], selfApproval, timeout, onTimeout: reject | approve }.',
      ],
    ]);
  });

  test('duplicate ids, naming the first use', () => {
    const spec = sampleSpec();
    spec.items[3]!.id = 'edit-alpha';
    spec.items[3]!.needs = {};
    spec.items[3]!.apply = [];
    expect(issuesOf(spec)).toContainEqual({
      code: 'CAIRN_RUN_SPEC_INVALID',
      path: '$.items[3].id',
      message: '"edit-alpha" is already the id of $.items[0]; give every item a unique id.',
    });
  });

  test('dangling dependsOn and needs targets, with suggestions, and self-dependencies', () => {
    const spec = sampleSpec();
    spec.items[2]!.dependsOn = ['edit-alpa', 'review', 'nothing-like-it'];
    spec.items[3]!.needs!['b'] = { from: 'edit-bta', select: 'patch' };
    expect(issuesOf(spec)).toEqual([
      {
        code: 'CAIRN_RUN_SPEC_INVALID',
        path: '$.items[2].dependsOn[0]',
        message: 'names no item of this run: "edit-alpa"; did you mean "edit-alpha"? Use the id of an item in items.',
      },
      { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[2].dependsOn[1]', message: 'an item cannot wait for itself ("review"); remove this entry.' },
      {
        code: 'CAIRN_RUN_SPEC_INVALID',
        path: '$.items[2].dependsOn[2]',
        message: 'names no item of this run: "nothing-like-it". Use the id of an item in items.',
      },
      {
        code: 'CAIRN_RUN_SPEC_INVALID',
        path: '$.items[3].needs.b.from',
        message: 'names no item of this run: "edit-bta"; did you mean "edit-beta"? Use the id of an item in items.',
      },
    ]);
  });

  test('cycles, with the cycle path, including a need on a downstream item', () => {
    const spec = sampleSpec();
    spec.items[0]!.dependsOn = ['edit-beta'];
    spec.items[1]!.dependsOn = ['review'];
    spec.items[2]!.dependsOn = ['edit-alpha'];
    expect(issuesOf(spec)).toEqual([
      {
        code: 'CAIRN_RUN_SPEC_INVALID',
        path: '$.items[2].dependsOn[0]',
        message: 'closes a cycle: edit-alpha → edit-beta → review → edit-alpha (each waits for the next). Remove one of these dependencies.',
      },
    ]);
    const downstream = sampleSpec();
    downstream.items[0]!.needs = { tests: { from: 'verify', select: 'stdout' } };
    expect(issuesOf(downstream).map((issue) => issue.path)).toEqual(['$.items[3].needs.a.from']);
  });

  test('apply naming a missing need or a need that is not a patch, and a lock taken twice', () => {
    const spec = sampleSpec();
    spec.items[3]!.needs!['log'] = { from: 'edit-beta', select: 'stdout' };
    spec.items[3]!.apply = ['a', 'log', 'c', 'a'];
    spec.items[0]!.locks = ['db', { name: 'db', mode: 'shared' }];
    expect(issuesOf(spec).map((issue) => [issue.path, issue.message])).toEqual([
      ['$.items[0].locks[1]', 'the lock "db" is taken twice; take each lock once.'],
      ['$.items[3].apply[1]', '"log" selects stdout, not a patch; only patch inputs can be applied.'],
      ['$.items[3].apply[2]', 'names no entry of needs: "c". Apply only needs entries.'],
      ['$.items[3].apply[3]', '"a" is applied twice; remove the repeat.'],
    ]);
  });

  test('a shape error does not hide graph errors elsewhere', () => {
    const spec = sampleSpec() as unknown as { items: Record<string, unknown>[] };
    spec.items[0]!['timeout'] = 'soon';
    spec.items[1]!['dependsOn'] = ['edit-alpa', 42];
    spec.items[2]!['id'] = 7;
    expect(issuesOf(spec).map((issue) => issue.path)).toEqual(['$.items[0].timeout', '$.items[1].dependsOn[1]', '$.items[2].id', '$.items[1].dependsOn[0]']);
  });

  test('a hostile value where a string belongs is reported, not thrown (found by the fuzzer)', () => {
    const spec = sampleSpec() as unknown as { items: { needs: Record<string, Record<string, unknown>> }[] };
    spec.items[3]!.needs['a']!['select'] = { toString: false };
    expect(issuesOf(spec).map((issue) => issue.path)).toEqual(['$.items[3].needs.a.select', '$.items[3].apply[0]']);
  });

  test('executors, queues, adapters and secrets the server does not know', () => {
    const spec = sampleSpec();
    spec.items[0]!.secrets = ['GITHUB_TOKEN'];
    spec.items[1]!.queue = 'gpu';
    const result = validateRunSpec(spec, { executors: ['fargate'], queues: ['default'], adapters: ['claude-code'], secrets: [] });
    expect(result.ok ? [] : result.issues.map((issue) => issue.path)).toEqual(['$.defaults.executor', '$.items[0].secrets[0]', '$.items[1].queue']);
  });

  test("an agent item must name the secret its adapter's runtime takes the API key from", () => {
    const agent = (secrets?: string[]) => ({
      id: 'ask',
      runtime: { kind: 'agent', adapter: 'openai-compatible', prompt: 'x' },
      ...(secrets ? { secrets } : {}),
    });
    const context = { adapters: ['openai-compatible'], secrets: ['MODEL_KEY', 'OTHER'], adapterSecrets: { 'openai-compatible': ['MODEL_KEY'] } };
    const without = validateRunSpec({ version: 1, name: 'x', items: [agent(['OTHER'])] }, context);
    expect(without.ok ? [] : without.issues).toEqual([
      expect.objectContaining({ path: '$.items[0].secrets', message: expect.stringContaining('secrets: [OTHER, MODEL_KEY]') }),
    ]);
    expect(validateRunSpec({ version: 1, name: 'x', items: [agent(['MODEL_KEY'])] }, context).ok).toBe(true);
    // A command item needs no runtime key.
    expect(validateRunSpec({ version: 1, name: 'x', items: [{ id: 'c', runtime: { kind: 'command', argv: ['true'] } }] }, context).ok).toBe(true);
  });

  test('lock names and label keys holding markup, whitespace or control characters, and label values holding control characters', () => {
    const spec = sampleSpec();
    spec.labels = { '<b>team</b>': 'x', owner: 'first line\nsecond line' };
    spec.items[0]!.locks = ['<img src=x onerror=alert(1)>', { name: 'db\u001b[2J', mode: 'shared' }, 'file:src/shared.ts'];
    spec.items[1]!.labels = { 'has space': 'x', tier: 'a\u0085b', '/leading-slash': 'x' };
    const characters = 'must start with a letter or digit and hold only letters, digits, ".", "_", "-", "/", ":", "@" and "+"';
    const control = 'must not hold a control character (a newline, a tab, an escape: U+0000 to U+001F, U+007F to U+009F); write it as one line of text.';
    expect(issuesOf(spec)).toEqual([
      { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.labels["<b>team</b>"]', message: `the key "<b>team</b>" ${characters}; rename it.` },
      { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.labels.owner', message: control },
      { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[0].locks[0]', message: `${characters}.` },
      { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[0].locks[1].name', message: `${characters}.` },
      { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[1].labels["has space"]', message: `the key "has space" ${characters}; rename it.` },
      { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[1].labels.tier', message: control },
      { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[1].labels["/leading-slash"]', message: `the key "/leading-slash" ${characters}; rename it.` },
    ]);
  });

  test('a map key its map refuses, saying why and what to write (an env name, a label key too long)', () => {
    const spec = sampleSpec();
    spec.items[0]!.env = { 'NOT A NAME': '1' };
    spec.items[0]!.labels = { ['k'.repeat(runSpecLimits.nameLength + 1)]: 'x' };
    expect(issuesOf(spec)).toEqual([
      {
        code: 'CAIRN_RUN_SPEC_INVALID',
        path: '$.items[0].env["NOT A NAME"]',
        message: 'the key "NOT A NAME" must be an environment variable name: letters, digits and "_", not starting with a digit; rename it.',
      },
      {
        code: 'CAIRN_RUN_SPEC_TOO_LARGE',
        path: `$.items[0].labels.${'k'.repeat(runSpecLimits.nameLength + 1)}`,
        message: `the key "${'k'.repeat(40)}…" must be at most ${runSpecLimits.nameLength} characters; rename it.`,
      },
    ]);
  });

  test('__proto__, constructor and prototype keys anywhere', () => {
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      const text = `{"version": 1, "name": "x", "items": [{"id": "a", "runtime": {"kind": "command", "argv": ["true"]}, "env": {"${key}": "1"}}]}`;
      expect(issuesOf(parseRunSpec(text))).toEqual([
        { code: 'CAIRN_RUN_SPEC_INVALID', path: `$.items[0].env.${key}`, message: `the key "${key}" is not allowed anywhere in a run spec; rename it.` },
      ]);
    }
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  test('sizes over the limits, as CAIRN_RUN_SPEC_TOO_LARGE', () => {
    const items = Array.from({ length: runSpecLimits.items + 1 }, (_, index) => ({ id: `i${index}`, runtime: { kind: 'command', argv: ['true'] } }));
    expect(issuesOf({ version: 1, name: 'big', items })).toEqual([
      { code: 'CAIRN_RUN_SPEC_TOO_LARGE', path: '$.items', message: `must hold at most ${runSpecLimits.items} items; split the run.` },
    ]);
    const env = Object.fromEntries(Array.from({ length: runSpecLimits.mapEntries + 1 }, (_, index) => [`V${index}`, 'x']));
    expect(issuesOf({ version: 1, name: 'x', items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] }, env }] })[0]!.code).toBe(
      'CAIRN_RUN_SPEC_TOO_LARGE',
    );
    let deep: unknown = 'x';
    for (let level = 0; level < 100; level++) deep = { nested: deep };
    expect(issuesOf({ version: 1, name: 'x', items: [], labels: deep })[0]).toMatchObject({ code: 'CAIRN_RUN_SPEC_TOO_LARGE' });
  });
});

describe('parseRunSpec and loadRunSpec', () => {
  function thrown(operation: () => unknown) {
    try {
      operation();
    } catch (error) {
      if (isCairnError(error)) return error;
      throw error;
    }
    return expect.unreachable('expected a CairnError');
  }

  test('syntax errors name the source, line and column', () => {
    expect(thrown(() => parseRunSpec('version: 1\nname: [\n', { source: 'run.yaml' })).message).toMatch(/^run\.yaml:\d+:\d+ is not valid YAML: /);
    expect(thrown(() => parseRunSpec('{"version": 1,, }', { source: 'run.json' })).message).toMatch(/^run\.json:1:15 is not valid JSON/);
  });

  test('duplicate keys are refused in YAML and in JSON', () => {
    expect(thrown(() => parseRunSpec('version: 1\nversion: 2\n')).code).toBe('CAIRN_RUN_SPEC_UNPARSABLE');
    expect(thrown(() => parseRunSpec('{"version": 1, "version": 2}')).message).toBe(
      'run spec is not valid: the key $.version appears twice in one object; keep one.',
    );
  });

  test('documents over the byte limit are refused before parsing', () => {
    const error = thrown(() => parseRunSpec(`# ${'x'.repeat(runSpecLimits.documentBytes)}\n`));
    expect(error.code).toBe('CAIRN_RUN_SPEC_TOO_LARGE');
  });

  test('a billion-laughs YAML document is refused', () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let level = 1; level < 10; level++) {
      const previous = String.fromCharCode(96 + level);
      const name = String.fromCharCode(97 + level);
      levels.push(`${name}: &${name} [*${previous},*${previous},*${previous},*${previous},*${previous},*${previous},*${previous},*${previous},*${previous}]`);
    }
    expect(thrown(() => parseRunSpec(levels.join('\n'))).code).toBe('CAIRN_RUN_SPEC_TOO_LARGE');
  });

  test('loadRunSpec throws every issue at once, the first in the message', () => {
    const error = thrown(() =>
      loadRunSpec('version: 1\nname: x\nitems:\n  - id: a\n    runtime: { kind: command, argv: [make] }\n    dependsOn: [b, c]\n', { source: 'run.yaml' }),
    );
    expect(error.code).toBe('CAIRN_RUN_SPEC_INVALID');
    expect(error.message).toBe('run.yaml has 2 problems; the first: $.items[0].dependsOn[0] names no item of this run: "b". Use the id of an item in items.');
    expect(error.issues.map((issue) => issue.path)).toEqual(['$.items[0].dependsOn[0]', '$.items[0].dependsOn[1]']);
  });
});
