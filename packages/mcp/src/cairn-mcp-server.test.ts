import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCairnClient } from '@cairn/client';
import { assertRunSpec, runSpecJsonSchema } from '@cairn/protocol';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { afterEach, expect, test } from 'vitest';
import { buildMcpServer, mcpToolNames, type McpServerOptions } from './cairn-mcp-server.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An SDK client linked to the MCP server over a Cairn client whose server cannot be reached: what is refused before any request shows. */
async function connected(options: McpServerOptions = {}): Promise<Client> {
  const server = buildMcpServer(createCairnClient({ baseUrl: 'http://127.0.0.1:9' }), options);
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  await server.connect(serverTransport);
  const client = new Client({ name: 'test', version: '1.0.0' });
  await client.connect(clientTransport);
  cleanups.push(() => client.close());
  return client;
}

function errorText(answer: object): string {
  const { isError, content } = answer as { isError?: boolean; content: { text: string }[] };
  expect(isError).toBe(true);
  return content[0]!.text;
}

test('the tools an AI client sees are exactly the repository allowlist: nothing privileged', async () => {
  const allowlist = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'tool-allowlist.json'), 'utf8')) as { tools: string[] };
  const client = await connected();
  const names = (await client.listTools()).tools.map((tool) => tool.name).sort();
  expect(names).toEqual([...allowlist.tools].sort());
  expect(names).toEqual([...mcpToolNames].sort());
  for (const forbidden of ['audit', 'token', 'schedule', 'secret', 'approve', 'reject', 'cancel', 'key', 'webhook', 'backup'])
    expect(names.join(' ')).not.toContain(forbidden);
  // A server that cannot be reached is a tool error naming the code, not a crash.
  const answer = await client.callTool({ name: 'get_run_status', arguments: { runId: 'r-1' } });
  expect(answer.isError).toBe(true);
  expect(JSON.stringify(answer.content)).toContain('CAIRN_SERVER_UNREACHABLE');
});

test('privileged operations are not reachable by name either, and the server offers no prompts or resource templates to smuggle them in', async () => {
  const client = await connected();
  for (const name of ['approve_item', 'approve', 'create_token', 'set_secret', 'rotate_key', 'cancel_run', 'export_audit']) {
    expect(errorText(await client.callTool({ name, arguments: { runId: 'r-1', itemId: 'a' } }))).toContain(`Tool ${name} not found`);
  }
  expect(client.getServerCapabilities()?.prompts).toBeUndefined();
  expect((await client.listResourceTemplates()).resourceTemplates).toEqual([]);
  expect((await client.listResources()).resources.map((resource) => resource.uri).sort()).toEqual(['cairn://examples/run-spec', 'cairn://schema/run-spec']);
});

test('every tool declares an output schema and its hints: status, wait, patch and the template list only read; the submits neither read only nor destroy', async () => {
  const client = await connected();
  const tools = Object.fromEntries((await client.listTools()).tools.map((tool) => [tool.name, tool]));
  for (const tool of Object.values(tools)) {
    expect(tool.outputSchema, tool.name).toMatchObject({ type: 'object' });
    // A client that validates structuredContent must accept a field added in a later version.
    expect(tool.outputSchema!['additionalProperties'], tool.name).not.toBe(false);
    expect(tool.title, tool.name).toBeTruthy();
    expect(tool.annotations?.destructiveHint ?? false, tool.name).toBe(false);
    expect(tool.annotations?.openWorldHint, tool.name).toBe(false);
  }
  expect(
    Object.entries(tools)
      .filter(([, tool]) => tool.annotations?.readOnlyHint === true)
      .map(([name]) => name)
      .sort(),
  ).toEqual(['get_patch', 'get_run_status', 'list_templates', 'wait_for_run']);
  expect(tools['submit_run']!.annotations?.readOnlyHint).toBe(false);
  expect(tools['submit_template_run']!.annotations?.readOnlyHint).toBe(false);
  expect(tools['wait_for_run']!.outputSchema!.required).toEqual(expect.arrayContaining(['runId', 'done', 'state']));
  expect(tools['get_patch']!.outputSchema!.required).toEqual(expect.arrayContaining(['patch']));
});

test('submit_run carries the run spec JSON Schema in its input schema and a worked example in its description; both are also resources', async () => {
  const client = await connected();
  const submit = (await client.listTools()).tools.find((tool) => tool.name === 'submit_run')!;
  const specSchema = (submit.inputSchema.properties as Record<string, { anyOf: Record<string, unknown>[] }>)['spec']!;
  const { $schema: _dialect, $id: _id, ...expected } = runSpecJsonSchema();
  // A string (YAML or JSON text), or an object of exactly the run spec's schema.
  expect(specSchema.anyOf[0]).toMatchObject({ type: 'string' });
  expect(specSchema.anyOf[1]).toEqual(expected);
  expect((submit.inputSchema.properties as Record<string, unknown>)['workspace']).toMatchObject({
    anyOf: [{ required: ['directory'] }, { required: ['digest'] }],
  });
  expect(submit.description).toContain('cairn://schema/run-spec');
  expect(submit.description).toContain('name: count-then-report');
  expect(submit.description).toContain('kind: command');

  const schema = await client.readResource({ uri: 'cairn://schema/run-spec' });
  expect(schema.contents[0]!.mimeType).toBe('application/schema+json');
  expect(JSON.parse((schema.contents[0] as { text: string }).text)).toEqual(runSpecJsonSchema());
  const example = await client.readResource({ uri: 'cairn://examples/run-spec' });
  const exampleSpec = JSON.parse((example.contents[0] as { text: string }).text) as unknown;
  expect(assertRunSpec(exampleSpec).spec).toMatchObject({ name: 'count-then-report' });
});

test('a spec object that is not a run spec is refused by the Cairn validator, naming the JSON path', async () => {
  const client = await connected({ workspaceRoot: tmpdir() });
  const text = errorText(
    await client.callTool({
      name: 'submit_run',
      arguments: {
        spec: { version: 1, name: 'x', items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] }, timeout: '1h30m' }] },
        workspace: { directory: '.' },
      },
    }),
  );
  expect(text).toContain('CAIRN_RUN_SPEC_INVALID');
  expect(text).toContain('$.items[0].timeout');
});

test('workspace.directory must lie inside the workspace root, symlinks resolved; nothing outside is snapshotted', async () => {
  const base = mkdtempSync(join(tmpdir(), 'cairn-mcp-root-'));
  cleanups.push(() => rmSync(base, { recursive: true, force: true }));
  const root = join(base, 'root');
  mkdirSync(join(root, 'project'), { recursive: true });
  mkdirSync(join(base, 'private'));
  writeFileSync(join(base, 'private', 'secret.txt'), 'not for the model\n');
  symlinkSync(join(base, 'private'), join(root, 'escape'));
  mkdirSync(join(root, '..hidden'));
  const client = await connected({ workspaceRoot: root });
  const spec = 'version: 1\nname: w\nitems:\n  - { id: a, runtime: { kind: command, argv: [cat, secret.txt] } }\n';
  for (const directory of ['..', '../private', join(base, 'private'), 'escape', 'project/../../private', '/etc']) {
    const text = errorText(await client.callTool({ name: 'submit_run', arguments: { spec, workspace: { directory } } }));
    expect(text, directory).toContain('CAIRN_FORBIDDEN');
    expect(text, directory).toContain('outside the folder this MCP server may snapshot');
  }
  expect(errorText(await client.callTool({ name: 'submit_run', arguments: { spec, workspace: { directory: 'missing' } } }))).toContain('CAIRN_NOT_FOUND');
  // Inside the root (a name starting with two dots included), the snapshot is made and the upload tried: this server is unreachable.
  for (const directory of ['project', join(root, 'project'), '..hidden', '.']) {
    expect(errorText(await client.callTool({ name: 'submit_run', arguments: { spec, workspace: { directory } } })), directory).toContain(
      'CAIRN_SERVER_UNREACHABLE',
    );
  }
  // A spec's own workspace.path is snapshotted by the same rules, never ignored (the server does not read it).
  const withPath = (path: string) =>
    `version: 1\nname: w\nworkspace: { path: ${JSON.stringify(path)} }\nitems:\n  - { id: a, runtime: { kind: command, argv: [cat, secret.txt] } }\n`;
  expect(errorText(await client.callTool({ name: 'submit_run', arguments: { spec: withPath('../private') } }))).toContain('CAIRN_FORBIDDEN');
  expect(
    errorText(
      await client.callTool({
        name: 'submit_run',
        arguments: { spec: { version: 1, name: 'w', workspace: { path: 'escape' }, items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] } }] } },
      }),
    ),
  ).toContain('CAIRN_FORBIDDEN');
  expect(errorText(await client.callTool({ name: 'submit_run', arguments: { spec: withPath('project') } }))).toContain('CAIRN_SERVER_UNREACHABLE');
  // A digest is checked for its form before anything is sent.
  expect(errorText(await client.callTool({ name: 'submit_run', arguments: { spec, workspace: { digest: 'sha256:abc' } } }))).toContain(
    'must be sha256: followed by 64 lowercase hex digits',
  );
  expect(
    errorText(await client.callTool({ name: 'submit_run', arguments: { spec, workspace: { directory: 'project', digest: `sha256:${'a'.repeat(64)}` } } })),
  ).toContain('Input validation error');
});

test('the per-call wait bound is checked when the server is built', () => {
  const client = createCairnClient({ baseUrl: 'http://127.0.0.1:9' });
  for (const maxWaitSeconds of [0, -1, 3_601, Number.NaN]) expect(() => buildMcpServer(client, { maxWaitSeconds })).toThrow(/invalid setting "maxWaitSeconds"/);
});
