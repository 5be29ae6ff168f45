// The served OpenAPI document as its consumers use it: a linter's recommended rules, a client
// generated from it (openapi-typescript + openapi-fetch) that type-checks and submits a run, and
// what generated clients need of each operation (operationId, tag, request bodies, named schemas).
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { itemStates, runStates } from '@cairn/protocol';
import { afterEach, expect, test } from 'vitest';
import { runningServers } from './running-server.test-support.ts';

const run = promisify(execFile);
const serve = runningServers();
const repository = join(import.meta.dirname, '..', '..', '..', '..');
const bin = (name: string) => join(repository, 'node_modules', '.bin', name);
const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});
function temporaryFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'cairn-openapi-'));
  folders.push(folder);
  return folder;
}

interface Operation {
  readonly operationId?: string;
  readonly summary?: string;
  readonly tags?: string[];
  readonly security?: unknown[];
  readonly parameters?: { name: string; in: string }[];
  readonly requestBody?: { content: Record<string, { schema: Record<string, unknown> }> };
  readonly responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }>;
}
interface Document {
  readonly servers?: { url: string }[];
  readonly paths: Record<string, Record<string, Operation>>;
  readonly components: { schemas: Record<string, { properties?: Record<string, { enum?: string[] }> }> };
}

async function servedDocument(): Promise<{ document: Document; base: string; operatorToken: string; file: string }> {
  const { base, operatorToken } = await serve();
  const text = await (await fetch(`${base}/openapi.json`)).text();
  const file = join(temporaryFolder(), 'openapi.json');
  writeFileSync(file, text);
  return { document: JSON.parse(text) as Document, base, operatorToken, file };
}

test('every operation has a unique camelCase operationId, a tag, a summary; health checks need no token; servers is set', { timeout: 60_000 }, async () => {
  const { document } = await servedDocument();
  const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({ where: `${method.toUpperCase()} ${path}`, ...operation })),
  );
  const tags = new Set([
    'runs',
    'items',
    'events',
    'blobs',
    'audit',
    'schedules',
    'secrets',
    'tokens',
    'webhooks',
    'templates',
    'triggers',
    'runners',
    'operations',
  ]);
  for (const operation of operations) {
    expect([operation.where, operation.operationId], 'operationId').toEqual([operation.where, expect.stringMatching(/^[a-z][A-Za-z0-9]+$/)]);
    expect([operation.where, operation.summary], 'summary').toEqual([operation.where, expect.stringMatching(/\S/)]);
    expect([operation.where, operation.tags?.length, tags.has(operation.tags?.[0] ?? '')], 'tag').toEqual([operation.where, 1, true]);
    expect([operation.where, Array.isArray(operation.security)], 'security').toEqual([operation.where, true]);
  }
  expect(new Set(operations.map((operation) => operation.operationId)).size).toBe(operations.length);
  for (const path of ['/healthz', '/readyz']) expect(document.paths[path]!['get']!.security).toEqual([]);
  expect(document.paths['/metrics']!['get']!.security).toEqual([{ bearerToken: [expect.any(String)] }]);
  expect(document.servers).toEqual([expect.objectContaining({ url: '/' })]);
});

test(
  'POST /v1/runs declares the run spec (JSON and YAML) and POST /v1/blobs its bytes; records are named components with state enums',
  { timeout: 60_000 },
  async () => {
    const { document } = await servedDocument();
    const submit = document.paths['/v1/runs']!['post']!;
    expect(submit.requestBody?.content['application/json']?.schema).toEqual({ $ref: '#/components/schemas/RunSpec' });
    expect(submit.requestBody?.content['application/yaml']?.schema).toEqual(expect.objectContaining({ type: 'string' }));
    expect(document.components.schemas['RunSpec']).toEqual(
      expect.objectContaining({ type: 'object', required: expect.arrayContaining(['version', 'name', 'items']) }),
    );
    expect(document.paths['/v1/blobs']!['post']!.requestBody?.content['application/octet-stream']?.schema).toEqual(
      expect.objectContaining({ type: 'string', format: 'binary' }),
    );
    expect(submit.responses['201']?.content?.['application/json']?.schema).toEqual({ $ref: '#/components/schemas/SubmitResult' });
    expect(document.paths['/v1/runs/{runId}']!['get']!.responses['200']?.content?.['application/json']?.schema).toEqual({ $ref: '#/components/schemas/Run' });
    expect(document.paths['/v1/runs/{runId}']!['get']!.responses['4XX']?.content?.['application/json']?.schema).toEqual({ $ref: '#/components/schemas/Error' });
    for (const name of ['Run', 'Item', 'Event', 'Error', 'Token', 'Webhook', 'WebhookDelivery', 'Schedule', 'Secret', 'RunSpec', 'SubmitResult', 'RunPage'])
      expect(Object.keys(document.components.schemas)).toContain(name);
    expect(Object.keys(document.components.schemas).filter((name) => name.endsWith('Input'))).toEqual([]);
    expect(document.components.schemas['Run']!.properties!['state']!.enum).toEqual([...runStates]);
    expect(document.components.schemas['Item']!.properties!['state']!.enum).toEqual([...itemStates]);
    for (const path of ['/v1/events', '/v1/runs/{runId}/events']) {
      expect(document.paths[path]!['get']!.parameters).toEqual(
        expect.arrayContaining([expect.objectContaining({ name: 'after', in: 'query' }), expect.objectContaining({ name: 'last-event-id', in: 'header' })]),
      );
    }
  },
);

test('@redocly/cli lint with the recommended rules: no errors in the served document', { timeout: 60_000 }, async () => {
  const { file } = await servedDocument();
  // Its own folder: no redocly.yaml is found, nothing is fetched, no telemetry is sent.
  const folder = join(file, '..');
  const environment = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' };
  const lint = await run(bin('redocly'), ['lint', file, '--extends=recommended', '--format=json'], { cwd: folder, env: environment }).catch(
    (error: { stdout: string; stderr: string }) => error,
  );
  const report = JSON.parse(lint.stdout) as {
    totals: { errors: number };
    problems: { ruleId: string; severity: string; message: string; location: { pointer: string }[] }[];
  };
  expect(
    report.problems
      .filter((problem) => problem.severity === 'error')
      .map((problem) => `${problem.ruleId}: ${problem.message} at ${problem.location[0]?.pointer}`),
  ).toEqual([]);
  expect(report.totals.errors).toBe(0);
});

test('a client generated with openapi-typescript + openapi-fetch type-checks, submits a run and reads it back', { timeout: 60_000 }, async () => {
  const { base, operatorToken, file } = await servedDocument();
  const folder = join(file, '..');
  await run(bin('openapi-typescript'), [file, '--output', join(folder, 'schema.d.ts')], { cwd: folder, env: { ...process.env, NO_COLOR: '1' } });
  mkdirSync(join(folder, 'node_modules'));
  mkdirSync(join(folder, 'node_modules', '@types'));
  symlinkSync(realpathSync(join(repository, 'node_modules', 'openapi-fetch')), join(folder, 'node_modules', 'openapi-fetch'));
  symlinkSync(realpathSync(join(repository, 'node_modules', '@types', 'node')), join(folder, 'node_modules', '@types', 'node'));
  writeFileSync(
    join(folder, 'client.ts'),
    [
      "import createClient from 'openapi-fetch';",
      "import type { components, paths } from './schema.d.ts';",
      '',
      "const client = createClient<paths>({ baseUrl: process.env['CAIRN_BASE']!, headers: { authorization: `Bearer ${process.env['CAIRN_TOKEN']!}` } });",
      "const spec: components['schemas']['RunSpec'] = { version: 1, name: 'generated-client', items: [{ id: 'only', runtime: { kind: 'command', argv: ['/bin/true'] } }] };",
      "const submitted = await client.POST('/v1/runs', { body: spec, params: { header: { 'idempotency-key': 'generated-client-1' } } });",
      'if (submitted.data === undefined) throw new Error(`submit: ${JSON.stringify(submitted.error)}`);',
      'const runId: string = submitted.data.runId;',
      "let state: components['schemas']['Run']['state'] = 'queued';",
      "for (let attempt = 0; attempt < 200 && state !== 'succeeded' && state !== 'failed'; attempt++) {",
      "  const read = await client.GET('/v1/runs/{runId}', { params: { path: { runId } } });",
      '  if (read.data === undefined) throw new Error(`read: ${read.error.code} ${read.error.message}`);',
      '  state = read.data.state;',
      '  await new Promise((resolve) => setTimeout(resolve, 100));',
      '}',
      'console.log(JSON.stringify({ runId, created: submitted.data.created, state }));',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(folder, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: 'es2023',
        lib: ['es2023', 'dom'],
        module: 'nodenext',
        moduleResolution: 'nodenext',
        allowImportingTsExtensions: true,
        skipLibCheck: false,
        types: ['node'],
      },
      files: ['client.ts'],
    }),
  );
  // An ES module package, so node runs client.ts with top-level await.
  writeFileSync(join(folder, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  const typecheck = await run(process.execPath, [join(repository, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', folder], { cwd: folder }).catch(
    (error: { stdout: string }) => error,
  );
  expect(typecheck.stdout).toBe('');
  const { stdout } = await run(process.execPath, [join(folder, 'client.ts')], {
    cwd: folder,
    env: { ...process.env, CAIRN_BASE: base, CAIRN_TOKEN: operatorToken },
  });
  const result = JSON.parse(stdout) as { runId: string; created: boolean; state: string };
  expect(result).toEqual({ runId: expect.stringMatching(/\S/), created: true, state: 'succeeded' });
});

test('the webhooks section: one signed POST per event type, its three Standard Webhooks headers and its payload schema', { timeout: 60_000 }, async () => {
  const { document } = await servedDocument();
  const webhooks = (document as unknown as { webhooks: Record<string, { post: Operation }> }).webhooks;
  expect(Object.keys(webhooks)).toEqual(['run.state', 'item.state', 'attempt.state']);
  for (const { post } of Object.values(webhooks)) {
    expect(post.parameters?.map((parameter) => `${parameter.in}:${parameter.name}`)).toEqual([
      'header:webhook-id',
      'header:webhook-timestamp',
      'header:webhook-signature',
    ]);
    expect(post.requestBody?.content['application/json']?.schema).toEqual({ $ref: '#/components/schemas/WebhookPayload' });
  }
  expect(document.components.schemas['WebhookPayload']).toEqual(
    expect.objectContaining({ required: ['type', 'timestamp', 'data'], properties: expect.objectContaining({ data: { $ref: '#/components/schemas/Event' } }) }),
  );
});
