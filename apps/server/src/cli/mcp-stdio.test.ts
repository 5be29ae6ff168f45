// What a model does through `cairn mcp`, driven by the MCP SDK's own Client over stdio with its
// default request timeout (60 s): list the tools, read the run spec schema, submit runs over a
// workspace folder (and over a stored snapshot), wait for a run that outlasts one wait call with
// progress notifications, and read the result — against a real server on loopback, through the
// real `cairn mcp` in a child process.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCairnClient } from '@cairn/client';
import { runSpecExample } from '@cairn/mcp';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Progress } from '@modelcontextprotocol/sdk/types.js';
import { expect, test } from 'vitest';
import { runningServers } from '../http/running-server.test-support.ts';
import { servedMcpTools } from './mcp-tools.test-support.ts';

const here = dirname(fileURLToPath(import.meta.url));
const start = runningServers();

/** An SDK client connected to `cairn mcp ...args` started in `cwd`, with a token that may only submit and read runs. */
async function mcpClient(cwd: string, base: string, token: string, args: string[]): Promise<{ client: Client; stderr: () => string }> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...process.env, CAIRN_TOKEN: token }))
    if (value !== undefined && name !== 'NODE_EXTRA_CA_CERTS') env[name] = value;
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ['--conditions=@cairn/source', join(here, 'cli.ts'), 'mcp', '--server', base, ...args],
    cwd,
    env,
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const client = new Client({ name: 'model', version: '1.0.0' });
  await client.connect(transport);
  return { client, stderr: () => stderr };
}

type Structured = Record<string, unknown>;

/** wait_for_run until the run is done, as a model is told to: each call within the client's default timeout. */
async function waitUntilDone(client: Client, runId: string, onprogress?: (progress: Progress) => void): Promise<{ calls: Structured[]; last: Structured }> {
  const calls: Structured[] = [];
  for (;;) {
    const answer = await client.callTool({ name: 'wait_for_run', arguments: { runId } }, undefined, onprogress ? { onprogress } : {});
    expect(answer.isError, JSON.stringify(answer.content)).toBeFalsy();
    const structured = answer.structuredContent as Structured;
    // The text is the same answer, for clients that show only text.
    expect(JSON.parse((answer.content as { text: string }[])[0]!.text)).toEqual(structured);
    calls.push(structured);
    if (structured['done'] === true) return { calls, last: structured };
    expect(structured['next']).toContain('call wait_for_run again');
    expect(calls.length).toBeLessThan(60);
  }
}

test(
  'the SDK client over stdio, default timeouts: tools, schema, a workspace folder and a stored snapshot, a wait longer than one call, the patch',
  { timeout: 120_000 },
  async () => {
    const { directory, base, operatorToken } = await start();
    const { token } = await createCairnClient({ baseUrl: base, token: operatorToken }).createToken('agent', ['runs:submit', 'runs:read']);
    // The workspace root is the folder `cairn mcp` starts in; the model names a folder inside it.
    const root = join(directory, 'projects');
    mkdirSync(join(root, 'notes'), { recursive: true });
    writeFileSync(join(root, 'notes', 'first.txt'), 'one\ntwo\nthree\n');
    writeFileSync(join(root, 'notes', 'second.txt'), 'four\n');
    const { client, stderr } = await mcpClient(root, base, token, ['--max-wait', '1']);
    try {
      const tools = (await client.listTools()).tools;
      expect(tools.map((tool) => tool.name).sort()).toEqual(servedMcpTools);
      const schema = JSON.parse(((await client.readResource({ uri: 'cairn://schema/run-spec' })).contents[0] as { text: string }).text) as {
        $id: string;
        required: string[];
      };
      expect(schema).toMatchObject({ $id: 'cairn://schema/run-spec', required: expect.arrayContaining(['version', 'name', 'items']) });

      // A run that outlasts one wait call (1 s here, 45 s by default), over the folder `notes`.
      const slow =
        'version: 1\nname: read-notes\nitems:\n  - { id: copy, runtime: { kind: command, argv: [/bin/sh, -c, "sleep 3; test -f first.txt && cat first.txt second.txt > both.txt"] } }\n';
      const submitted = await client.callTool({ name: 'submit_run', arguments: { spec: slow, workspace: { directory: 'notes' } } });
      expect(submitted.isError, JSON.stringify(submitted.content)).toBeFalsy();
      const { runId, workspace } = submitted.structuredContent as { runId: string; workspace: { digest: string; files: number } };
      expect(workspace).toMatchObject({ digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), files: 2 });
      const progress: Progress[] = [];
      // The SDK client runs a notification's handler a microtask after reading it, and drops a
      // request's progress handler as soon as it reads the answer: a progress notification read in
      // the same chunk as its answer (sent before it) reaches onerror as "unknown token" instead.
      // Those were received too, in the order sent.
      client.onerror = (error) => {
        const unclaimed = /progress notification for an unknown token: (.*)$/s.exec(error.message)?.[1];
        if (unclaimed) progress.push((JSON.parse(unclaimed) as { params: Progress }).params);
      };
      const waited = await waitUntilDone(client, runId, (step) => progress.push(step));
      expect(waited.calls.length).toBeGreaterThan(1);
      expect(waited.calls[0]).toMatchObject({ runId, done: false, itemsTotal: 1 });
      expect(waited.last).toMatchObject({ runId, done: true, state: 'succeeded', itemsFinished: 1, itemsFailed: 0 });
      expect(progress.length).toBeGreaterThan(0);
      expect(progress.at(-1)).toMatchObject({ progress: 1, total: 1 });
      const patch = await client.callTool({ name: 'get_patch', arguments: { runId, itemId: 'copy' } });
      expect((patch.structuredContent as { patch: string }).patch).toContain('+++ b/both.txt');
      expect((patch.structuredContent as { patch: string }).patch).toContain('+four');
      expect((patch.content as { text: string }[])[0]!.text).toBe((patch.structuredContent as { patch: string }).patch);
      const status = await client.callTool({ name: 'get_run_status', arguments: { runId } });
      expect(status.structuredContent).toEqual({ runId, name: 'read-notes', state: 'succeeded', items: [{ itemId: 'copy', state: 'succeeded' }] });

      // The worked example, as a JSON object, over the snapshot already stored (by its digest).
      const again = await client.callTool({ name: 'submit_run', arguments: { spec: runSpecExample, workspace: { digest: workspace.digest } } });
      expect(again.isError, JSON.stringify(again.content)).toBeFalsy();
      const example = (again.structuredContent as { runId: string }).runId;
      expect((await waitUntilDone(client, example)).last).toMatchObject({ done: true, state: 'succeeded', itemsFinished: 2 });
      const report = await client.callTool({ name: 'get_patch', arguments: { runId: example, itemId: 'report' } });
      expect((report.structuredContent as { patch: string }).patch).toMatch(/\+\s*1 second\.txt\n\+\s*3 first\.txt\n\+\s*4 total/);

      // Outside the root nothing is read.
      const refused = await client.callTool({ name: 'submit_run', arguments: { spec: slow, workspace: { directory: '..' } } });
      expect(refused.isError).toBe(true);
      expect((refused.content as { text: string }[])[0]!.text).toContain('CAIRN_FORBIDDEN');
    } finally {
      await client.close();
    }
    expect(stderr()).toContain('cairn mcp: serving on stdio');
  },
);

test('cairn mcp started in / (as MCP clients often start servers) snapshots no folder unless --workspace-root says so', { timeout: 60_000 }, async () => {
  const spec = 'version: 1\nname: w\nitems:\n  - { id: a, runtime: { kind: command, argv: [cat, etc/hostname] } }\n';
  const unset = await mcpClient('/', 'http://127.0.0.1:9', 'cairn_unused', []);
  try {
    const refused = await unset.client.callTool({ name: 'submit_run', arguments: { spec, workspace: { directory: 'etc' } } });
    expect(refused.isError).toBe(true);
    expect((refused.content as { text: string }[])[0]!.text).toContain('CAIRN_FORBIDDEN: cairn mcp was started in / without --workspace-root');
  } finally {
    await unset.client.close();
  }
  const small = mkdtempSync(join(tmpdir(), 'cairn-mcp-small-'));
  writeFileSync(join(small, 'one.txt'), 'one\n');
  const chosen = await mcpClient('/', 'http://127.0.0.1:9', 'cairn_unused', ['--workspace-root', '/']);
  try {
    // A root the operator named is used, even /: the folder is snapshotted and the upload tried (no server listens here).
    const tried = await chosen.client.callTool({ name: 'submit_run', arguments: { spec, workspace: { directory: small.slice(1) } } });
    expect((tried.content as { text: string }[])[0]!.text).toContain('CAIRN_SERVER_UNREACHABLE');
  } finally {
    await chosen.client.close();
    rmSync(small, { recursive: true, force: true });
  }
});
