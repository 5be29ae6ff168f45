// One rule for a run spec, whichever way it comes: over HTTP as JSON or YAML, through `cairn
// validate`, or dropped in the inbox. Prototype keys, bytes that are not UTF-8, NULs handed to a
// program and absurd nesting are refused with the code and the place, never as a generic answer,
// never replaced or run.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, onTestFinished, test } from 'vitest';
import { runningServers } from './running-server.test-support.ts';

const serve = runningServers();
const here = dirname(fileURLToPath(import.meta.url));

const item = (argv: string) => `{"id":"a","runtime":{"kind":"command","argv":${argv}}}`;
const jsonSpec = (items: string) => `{"version":1,"name":"x","items":[${items}]}`;

async function submitted(api: (path: string, init?: RequestInit) => Promise<Response>, body: string | Uint8Array, contentType: string) {
  const response = await api('/v1/runs', { method: 'POST', headers: { 'content-type': contentType }, body });
  return { status: response.status, answer: (await response.json()) as { code: string; message: string; issues?: { path: string; message: string }[] } };
}

test('a prototype key is refused with its JSON path, over JSON as over YAML (not "Body is not valid JSON")', { timeout: 30_000 }, async () => {
  const { api } = await serve();
  for (const [body, type, path] of [
    [jsonSpec('{"id":"a","__proto__":{"polluted":true},"runtime":{"kind":"command","argv":["/bin/true"]}}'), 'application/json', '$.items[0].__proto__'],
    [
      jsonSpec('{"id":"a","constructor":{"prototype":{"polluted":true}},"runtime":{"kind":"command","argv":["/bin/true"]}}'),
      'application/json',
      '$.items[0].constructor',
    ],
    [
      'version: 1\nname: x\nitems:\n  - id: a\n    __proto__: { polluted: true }\n    runtime: { kind: command, argv: [/bin/true] }\n',
      'application/yaml',
      '$.items[0].__proto__',
    ],
  ] as const) {
    const { status, answer } = await submitted(api, body, type);
    expect([status, answer.code]).toEqual([400, 'CAIRN_RUN_SPEC_INVALID']);
    expect(answer.issues?.map((issue) => issue.path)).toContain(path);
    expect(answer.message).not.toContain('Body is not valid JSON');
  }
  expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
});

test('bytes that are not UTF-8 are refused, naming the byte, over HTTP and by cairn validate, never replaced by U+FFFD', { timeout: 30_000 }, async () => {
  const { api } = await serve();
  const bad = Buffer.concat([Buffer.from(jsonSpec(item('["/bin/echo","caf')), 'utf8'), Buffer.from([0xe9]), Buffer.from('"]}'), Buffer.from(']}')]);
  // The spec as sent, cut where the bad byte is: the byte offset is the length of what precedes it.
  const offset = Buffer.from(jsonSpec(item('["/bin/echo","caf')), 'utf8').length;
  for (const type of ['application/json', 'application/yaml']) {
    const { status, answer } = await submitted(api, bad, type);
    expect([status, answer.code]).toEqual([400, 'CAIRN_RUN_SPEC_UNPARSABLE']);
    expect(answer.message).toContain(`is not UTF-8 text: byte ${offset} (0xe9)`);
  }
  const directory = mkdtempSync(join(tmpdir(), 'cairn-bad-utf8-'));
  onTestFinished(() => rmSync(directory, { recursive: true, force: true }));
  writeFileSync(join(directory, 'run.json'), bad);
  const validated = spawnSync(process.execPath, ['--conditions=@cairn/source', join(here, '..', 'cli', 'cli.ts'), 'validate', join(directory, 'run.json')], {
    encoding: 'utf8',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: '' },
  });
  expect(validated.status).toBe(2);
  expect(validated.stderr).toContain(`CAIRN_RUN_SPEC_UNPARSABLE: ${join(directory, 'run.json')} is not UTF-8 text: byte ${offset} (0xe9)`);
});

test('a NUL in argv, env or a prompt is refused at submit with its JSON path, not left to fail at run time', { timeout: 30_000 }, async () => {
  const { api } = await serve();
  const cases = [
    [jsonSpec(item('["/bin/echo","a\\u0000b"]')), '$.items[0].runtime.argv[1]'],
    [jsonSpec('{"id":"a","env":{"GREETING":"hi\\u0000there"},"runtime":{"kind":"command","argv":["/bin/true"]}}'), '$.items[0].env.GREETING'],
    [jsonSpec('{"id":"a","runtime":{"kind":"agent","adapter":"claude-code","prompt":"tidy\\u0000up"}}'), '$.items[0].runtime.prompt'],
  ] as const;
  for (const [body, path] of cases) {
    const { status, answer } = await submitted(api, body, 'application/json');
    expect([status, answer.code]).toEqual([400, 'CAIRN_RUN_SPEC_INVALID']);
    expect(answer.issues).toEqual(
      expect.arrayContaining([expect.objectContaining({ path, message: expect.stringContaining('must not hold a NUL character') })]),
    );
  }
});

test('a spec nested 5,000 levels deep is answered 413 CAIRN_RUN_SPEC_TOO_LARGE, and the server keeps answering', { timeout: 30_000 }, async () => {
  const { api } = await serve();
  const deep = `{"version":1,"name":"x","labels":${'['.repeat(5_000)}${']'.repeat(5_000)},"items":[${item('["/bin/true"]')}]}`;
  for (const [body, type] of [
    [deep, 'application/json'],
    [`version: 1\nname: x\nlabels: ${'['.repeat(5_000)}${']'.repeat(5_000)}\n`, 'application/yaml'],
  ] as const) {
    const { status, answer } = await submitted(api, body, type);
    expect([status, answer.code]).toEqual([413, 'CAIRN_RUN_SPEC_TOO_LARGE']);
    expect(answer.message).toMatch(/nests 500[01] levels deep/);
  }
  expect((await api('/healthz')).status).toBe(200);
});

test('a spec sent as a type a web page may send without asking (text/plain, a form) or as text/yaml is refused, naming the types taken; nothing is stored', async () => {
  const { api } = await serve('loopback-operator');
  const yaml = 'version: 1\nname: x\nitems: [{ id: a, runtime: { kind: command, argv: [/bin/true] } }]\n';
  for (const type of ['text/plain', 'text/plain;charset=UTF-8', 'text/yaml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
    const { status, answer } = await submitted(api, yaml, type);
    expect([status, answer.code], type).toEqual([400, 'CAIRN_PAYLOAD_INVALID']);
    expect(answer.message).toContain('application/yaml');
  }
  expect(((await (await api('/v1/runs')).json()) as { runs: unknown[] }).runs).toEqual([]);
  expect((await submitted(api, yaml, 'application/yaml')).status).toBe(201);
});
