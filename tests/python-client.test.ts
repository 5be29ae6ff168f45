// The Python client (clients/python) against a real server: its unittest suite runs with the
// server's URL and an admin token in its environment, and its operations and records are compared
// with the OpenAPI document the server serves, so an operation or a field added to the API fails
// here until the Python client follows (or lists the operation as left out, with why).
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { errorCatalogue, type CairnErrorCode } from '@cairn/protocol';
import { writeWorkspaceSnapshot } from '@cairn/protocol/workspace';
import { buildHttpApi, composeServer, initServer, loadServerConfig } from '@cairn/server';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { repositoryRoot } from './support/workspace.ts';

const clientFolder = join(repositoryRoot, 'clients', 'python');
const cleanups: (() => Promise<void> | void)[] = [];
let server: { base: string; token: string };

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

beforeAll(async () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-server-'));
  // Sandboxes start as their own uids and must pass through to their workspaces.
  chmodSync(directory, 0o711);
  const { operatorToken } = await initServer(directory);
  const composition = await composeServer(loadServerConfig({ directory, env: process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' } }));
  const app = await buildHttpApi({ composition, host: '127.0.0.1', auth: 'tokens' });
  composition.start();
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(async () => {
    await app.close();
    await composition.close();
    rmSync(directory, { recursive: true, force: true });
  });
  server = { base, token: operatorToken };
}, 60_000);

/** Runs python3 with the client importable; resolves with its exit code and output. */
function python(args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'python3',
      args,
      { cwd: repositoryRoot, env: { ...process.env, PYTHONPATH: clientFolder, PYTHONDONTWRITEBYTECODE: '1', ...env }, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=Fixture', '-c', 'user.email=fixture@cairn.invalid', '-c', 'init.defaultBranch=main', ...args], {
    cwd,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/nonexistent', GIT_CONFIG_NOSYSTEM: '1' },
  });

/**
 * Folders whose snapshots the Python client must make byte for byte as @cairn/client does: a git
 * repository with two commits (history carried or not), an ignored and an untracked file, an
 * executable, symlinks (one with a target too long for ustar), names too long for ustar with and
 * without a place to split them, a non-ASCII name; and a plain folder with a `.git` file to leave out.
 */
async function snapshotFixtures(): Promise<{ name: string; folder: string; history: number; digest: string; bytes: number; entries: number }[]> {
  const root = mkdtempSync(join(tmpdir(), 'cairn-python-fixtures-'));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  const repository = join(root, 'repository');
  const longFolder = join(repository, 'd'.repeat(90), 'e'.repeat(40));
  mkdirSync(join(repository, 'notes'), { recursive: true });
  mkdirSync(join(repository, 'build'));
  mkdirSync(longFolder, { recursive: true });
  writeFileSync(join(repository, 'notes', 'hello.txt'), 'hello\n');
  writeFileSync(join(repository, 'run.sh'), '#!/bin/sh\necho run\n', { mode: 0o755 });
  writeFileSync(join(repository, '.gitignore'), 'build/\n');
  writeFileSync(join(repository, 'build', 'out.txt'), 'ignored\n');
  writeFileSync(join(longFolder, 'file.txt'), 'a long path\n');
  writeFileSync(join(repository, 'n'.repeat(120)), 'a name with no place to split\n');
  writeFileSync(join(repository, 'naïve €.txt'), 'non-ASCII\n');
  writeFileSync(join(repository, 'large.bin'), Buffer.alloc(200_000, 7));
  symlinkSync('notes/hello.txt', join(repository, 'link'));
  symlinkSync(`${'t'.repeat(80)}/${'u'.repeat(60)}`, join(repository, 'long-link'));
  git(repository, 'init', '-q');
  git(repository, 'add', '-A');
  git(repository, 'commit', '-q', '-m', 'first');
  writeFileSync(join(repository, 'notes', 'hello.txt'), 'hello again\n');
  git(repository, 'commit', '-q', '-am', 'second');
  writeFileSync(join(repository, 'untracked.txt'), 'not committed\n');
  const plain = join(root, 'plain');
  mkdirSync(join(plain, 'sub'), { recursive: true });
  writeFileSync(join(plain, 'sub', 'a.txt'), 'a\n');
  writeFileSync(join(plain, '.git'), 'gitdir: elsewhere\n');
  const fixtures = [];
  for (const [name, folder, history] of [
    ['repository', repository, 50],
    ['repository', repository, 0],
    ['plain', plain, 50],
  ] as const) {
    const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
    fixtures.push({ name, folder, history, ...(await writeWorkspaceSnapshot(folder, sink, { history })) });
  }
  return fixtures;
}

test('the Python client passes its unittest suite against a real server', { timeout: 60_000 }, async () => {
  const fixtures = await snapshotFixtures();
  // What `python3 -m unittest discover clients/python/tests` runs, a module per process at once:
  // most of their time is waiting for runs, which the server works on side by side.
  const modules = readdirSync(join(clientFolder, 'tests'))
    .filter((name) => /^test_.*\.py$/.test(name))
    .map((name) => name.replace(/\.py$/, ''));
  expect(modules.length).toBeGreaterThanOrEqual(5);
  const results = await Promise.all(
    modules.map((module) =>
      python(['-m', 'unittest', module], {
        PYTHONPATH: `${clientFolder}:${join(clientFolder, 'tests')}`,
        CAIRN_SERVER: server.base,
        CAIRN_TOKEN: server.token,
        CAIRN_TEST_SNAPSHOTS: JSON.stringify(fixtures),
      }).then((result) => ({ module, ...result })),
    ),
  );
  const failed = results.filter((result) => result.code !== 0);
  if (failed.length > 0)
    throw new Error(failed.map((result) => `python3 -m unittest ${result.module} failed (exit ${result.code}):\n${result.stderr}${result.stdout}`).join('\n'));
  // unittest reports on stderr: "Ran N tests ... OK".
  for (const result of results) expect([result.module, result.stderr]).toEqual([result.module, expect.stringMatching(/Ran [1-9]\d* tests?[\s\S]*\nOK\b/)]);
});

interface Schema {
  readonly $ref?: string;
  readonly type?: string | string[];
  readonly properties?: Record<string, Schema>;
  readonly required?: string[];
  readonly items?: Schema;
  readonly enum?: unknown[];
  readonly const?: unknown;
  readonly anyOf?: Schema[];
  readonly oneOf?: Schema[];
}
interface Operation {
  readonly operationId: string;
  readonly responses: Record<string, { content?: Record<string, { schema?: Schema }> }>;
}
interface PythonRecord {
  readonly fields?: Record<string, { required: boolean; enum: unknown[] | null }>;
  readonly oneOf?: PythonRecord[];
}
interface PythonClient {
  readonly operations: Record<string, { method: string; answer: string | null; returns: string }>;
  readonly notImplemented: Record<string, string>;
  readonly types: Record<string, PythonRecord>;
  readonly actions: Record<string, string>;
}

/** The values a property allows when the document lists them (enum, const, in an array or a nullable anyOf). */
function allowedValues(schema: Schema): unknown[] | null {
  if (schema.enum) return schema.enum;
  if (schema.const !== undefined) return [schema.const];
  if (schema.items) return allowedValues(schema.items);
  for (const branch of schema.anyOf ?? []) {
    const values = allowedValues(branch);
    if (values) return values;
  }
  return null;
}

/** Where a record of the document and its Python type differ: fields, whether each is required, the values a Literal allows. */
function recordDifferences(where: string, schema: Schema, record: PythonRecord | undefined, components: Record<string, Schema>): string[] {
  if (schema.$ref) schema = components[schema.$ref.split('/').pop()!]!;
  if (record === undefined) return [`${where}: the Python client has no type for it`];
  if (schema.oneOf) {
    const problems: string[] = [];
    const variants = record.oneOf ?? [];
    for (const variant of schema.oneOf) {
      const type = variant.properties?.['type']?.const;
      const match = variants.find((candidate) => JSON.stringify(candidate.fields?.['type']?.enum) === JSON.stringify([type]));
      problems.push(...recordDifferences(`${where} (type ${String(type)})`, variant, match, components));
    }
    if (variants.length !== schema.oneOf.length) problems.push(`${where}: ${variants.length} Python variants for ${schema.oneOf.length} in the document`);
    return problems;
  }
  const fields = record.fields ?? {};
  const properties = schema.properties ?? {};
  const problems: string[] = [];
  for (const [name, property] of Object.entries(properties)) {
    const field = fields[name];
    if (field === undefined) {
      problems.push(`${where}: the Python type lacks the field "${name}"`);
      continue;
    }
    const required = (schema.required ?? []).includes(name);
    if (field.required !== required)
      problems.push(`${where}: "${name}" is ${required ? 'required' : 'optional'} in the document, ${field.required ? 'required' : 'NotRequired'} in Python`);
    // A field the Python type names as a Literal allows what the document's enum allows; one it
    // leaves a plain str (an error's code: a newer server's codes pass through) is not compared.
    const values = allowedValues(property);
    if (values && field.enum !== null && JSON.stringify([...(field.enum ?? [])].map(String).sort()) !== JSON.stringify(values.map(String).sort()))
      problems.push(`${where}: "${name}" allows ${JSON.stringify(values)} in the document, ${JSON.stringify(field.enum)} in Python`);
  }
  for (const name of Object.keys(fields)) if (!(name in properties)) problems.push(`${where}: the Python type has a field "${name}" the document lacks`);
  return problems;
}

/** The names of the component schemas `schema` refers to, directly or through other components. */
function referencedComponents(schema: unknown, components: Record<string, Schema>, found = new Set<string>()): Set<string> {
  if (Array.isArray(schema)) for (const value of schema) referencedComponents(value, components, found);
  else if (typeof schema === 'object' && schema !== null) {
    for (const [key, value] of Object.entries(schema)) {
      if (key === '$ref' && typeof value === 'string') {
        const name = value.split('/').pop()!;
        if (!found.has(name)) {
          found.add(name);
          referencedComponents(components[name], components, found);
        }
      } else referencedComponents(value, components, found);
    }
  }
  return found;
}

/** Where the Python client falls short of the document: operations it neither implements nor leaves out with a reason, and answers without a matching type. */
export function coverageProblems(
  document: { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Schema> } },
  client: PythonClient,
): string[] {
  const components = document.components.schemas;
  const operations = Object.values(document.paths).flatMap((methods) => Object.values(methods));
  const ids = new Set(operations.map((operation) => operation.operationId));
  const problems: string[] = [];
  for (const [id, reason] of Object.entries(client.notImplemented)) {
    if (!ids.has(id)) problems.push(`${id}: left out by the Python client, but the document has no such operation`);
    if (id in client.operations) problems.push(`${id}: both implemented and left out by the Python client`);
    if (reason.trim().length < 20) problems.push(`${id}: left out without a reason`);
  }
  for (const id of Object.keys(client.operations))
    if (!ids.has(id)) problems.push(`${id}: a Python method is marked for it, but the document has no such operation`);
  const named = new Set<string>(['Error']);
  for (const operation of operations) {
    const implemented = client.operations[operation.operationId];
    if (implemented === undefined) {
      if (!(operation.operationId in client.notImplemented))
        problems.push(
          `${operation.operationId}: the Python client does not implement it (add a method marked @operation("${operation.operationId}"), or list it in NOT_IMPLEMENTED with why)`,
        );
      continue;
    }
    for (const [status, response] of Object.entries(operation.responses)) {
      const schema = response.content?.['application/json']?.schema;
      if (!/^2|^503$/.test(status) || schema === undefined || schema.type === 'string') continue;
      const record = schema.type === 'array' && schema.items ? schema.items : schema;
      const where = `${operation.operationId} (${implemented.method}) answer ${status}`;
      if (record.$ref) {
        const name = record.$ref.split('/').pop()!;
        if (implemented.answer !== name) problems.push(`${where}: the document answers ${name}, the Python method returns ${implemented.returns}`);
      } else problems.push(...recordDifferences(where, record, implemented.answer === null ? undefined : client.types[implemented.answer], components));
      for (const name of referencedComponents(schema, components)) named.add(name);
    }
    // A streamed answer (server-sent events) is typed by the component the Python method names.
    if (implemented.answer !== null && implemented.answer in components) named.add(implemented.answer);
  }
  for (const name of [...named].sort()) problems.push(...recordDifferences(`schema ${name}`, components[name]!, client.types[name], components));
  return problems;
}

test(
  'the Python client implements every operation of the served OpenAPI document, with a type for each answer that matches it',
  { timeout: 30_000 },
  async () => {
    const document = (await (await fetch(`${server.base}/openapi.json`)).json()) as Parameters<typeof coverageProblems>[0];
    const described = await python([join(clientFolder, 'tests', 'describe_client.py')]);
    if (described.code !== 0) throw new Error(`describe_client.py failed:\n${described.stderr}`);
    const client = JSON.parse(described.stdout) as PythonClient;
    expect(coverageProblems(document, client)).toEqual([]);
    // The check bites: an operation the client does not know, and a field its record lacks, are named.
    const withMore = structuredClone(document);
    withMore.paths['/v1/runs/{runId}/items'] = { ...withMore.paths['/v1/runs/{runId}/items'], put: { operationId: 'replaceRunItems', responses: {} } };
    withMore.components.schemas['Run'] = {
      ...withMore.components.schemas['Run']!,
      properties: { ...withMore.components.schemas['Run']!.properties, labels: { type: 'object' } },
    };
    expect(coverageProblems(withMore, client)).toEqual([
      expect.stringMatching(/^replaceRunItems: the Python client does not implement it/),
      'schema Run: the Python type lacks the field "labels"',
    ]);
    // The advice the client gives for codes it raises itself is the catalogue's, word for word.
    for (const [code, action] of Object.entries(client.actions)) expect([code, action]).toEqual([code, errorCatalogue[code as CairnErrorCode]?.action]);
  },
);
