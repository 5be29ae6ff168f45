// A real Claude Code CLI run (@anthropic-ai/claude-code, pinned) in a bubblewrap sandbox without
// network, its model reached through the gateway against scripted Messages endpoints, exported
// as ATIF through the real HTTP route and the real `cairn export trajectories`, and validated
// against the ATIF-v1.4 schema. The exported document is docs/examples/trajectory.atif.json:
// written with CAIRN_WRITE_DOCS=1, otherwise compared with it (ids, times and body digests,
// which differ run to run, normalised), so the committed example cannot drift.
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyBundle } from '@cairn/audit';
import { canonicalJson, digestOfJson } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { runCli } from '../../../cli/run-cli.test-support.ts';
import { claudeCodeCommand } from '../../gateway/agent-clis.test-support.ts';
import { gatewayServers, modelCallsOf, submitAgentRun } from '../../gateway/gateway-server.test-support.ts';
import { priceModelCall } from '../../gateway/model-prices.ts';
import { atifProblems } from './atif-schema.test-support.ts';

const start = gatewayServers();
const model = 'claude-sonnet-4-5';
const providerKey = 'sk-ant-provider-7d21c0e4';
const example = new URL('../../../../../../docs/examples/trajectory.atif.json', import.meta.url);
const guide = new URL('../../../../../../docs/guides/trajectories.md', import.meta.url);

test('a claude-code attempt exported as ATIF through GET /v1/runs/{id}/trajectories and cairn export trajectories', { timeout: 150_000 }, async () => {
  const usages = [
    { inputTokens: 1_800, outputTokens: 140, cacheReadTokens: 600, cacheWriteTokens: 200 },
    { inputTokens: 2_100, outputTokens: 35, cacheReadTokens: 0, cacheWriteTokens: 0 },
  ];
  const [binary] = claudeCodeCommand();
  const { api, base, operatorToken, composition } = await start(
    {
      anthropic: [
        { toolCalls: [{ name: 'Write', input: { file_path: '/workspace/HELLO.md', content: 'written by the model\n' } }], usage: usages[0]! },
        { text: 'Wrote HELLO.md.', usage: usages[1]! },
      ],
    },
    { provider: 'anthropic', providerKey, runtimes: { 'claude-code': { command: binary } } },
  );
  const runId = await submitAgentRun(api, { network: false, runtime: { kind: 'agent', adapter: 'claude-code', model, prompt: 'Write HELLO.md.' } });
  expect((await composition.engine.waitForRun(runId)).state, JSON.stringify(composition.engine.attempts(runId, 'write'))).toBe('succeeded');

  const answer = await api(`/v1/runs/${runId}/trajectories?format=atif&item=write`);
  const view = (await answer.json()) as { schemaVersion: string; trajectories: { itemId: string; attempt: number; digest: string; trajectory: any }[] };
  expect(answer.status, JSON.stringify(view)).toBe(200);
  expect(view.schemaVersion).toBe('ATIF-v1.4');
  expect(view.trajectories.map(({ itemId, attempt }) => [itemId, attempt])).toEqual([['write', 1]]);
  const [{ digest, trajectory }] = view.trajectories as [(typeof view.trajectories)[0]];
  expect(atifProblems(trajectory)).toEqual([]);
  expect(digest).toBe(digestOfJson(trajectory));
  expect(trajectory.session_id).toBe(composition.engine.attempts(runId, 'write')[0]!.executionId);
  expect(trajectory.agent).toEqual({ name: 'claude-code', version: 'unrecorded', model_name: model });

  // The steps are the CLI's own conversation: its prompt, the Write call with the tool's result, the last answer.
  const steps = trajectory.steps as any[];
  expect(steps.find((step) => step.source === 'user')?.message).toContain('Write HELLO.md.');
  const agentSteps = steps.filter((step) => step.source === 'agent');
  expect(agentSteps.map((step) => step.message)).toEqual(['', 'Wrote HELLO.md.']);
  const [write] = agentSteps[0].tool_calls;
  expect(write).toMatchObject({ function_name: 'Write', arguments: { file_path: '/workspace/HELLO.md', content: 'written by the model\n' } });
  expect(agentSteps[0].observation.results).toEqual([{ source_call_id: write.tool_call_id, content: expect.stringContaining('HELLO.md') }]);
  const prices = usages.map((usage) => priceModelCall({ provider: 'anthropic', model, usage }).costUsd!);
  expect(agentSteps.map((step) => [step.metrics.prompt_tokens, step.metrics.completion_tokens, step.metrics.cached_tokens, step.metrics.cost_usd])).toEqual(
    usages.map((usage, index) => [
      usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens,
      usage.outputTokens,
      usage.cacheReadTokens,
      prices[index],
    ]),
  );
  expect(trajectory.final_metrics).toMatchObject({
    total_prompt_tokens: 4_700,
    total_completion_tokens: 175,
    total_cached_tokens: 600,
    total_steps: steps.length,
  });

  // What it was built from is what the evidence names: every body it lists is a body of the run's
  // model.called entries, which the bundle carries and the verifier hashes.
  const recorded = modelCallsOf(composition, runId).flatMap((entry) => [entry.data['request'], entry.data['response']]);
  const listed = (trajectory.extra.model_calls as { request: string; response: string }[]).flatMap((call) => [call.request, call.response]);
  expect([...listed].sort()).toEqual([...recorded].sort());
  const bundle = await (await api(`/v1/runs/${runId}/bundle`)).text();
  const report = await verifyBundle(new TextEncoder().encode(bundle), {
    trustedKeys: [composition.signingKey],
    readAnchor: (receipt) => composition.anchors[0]!.read(receipt),
    readArtifact: (key) => composition.storage.get(`blobs/${key.slice('sha256:'.length)}`),
  });
  expect(report, JSON.stringify(report.checks)).toMatchObject({ valid: true });
  for (const body of listed) expect(bundle).toContain(body);

  // The CLI: a folder of documents, each digest printed; the same document as the route's.
  const env = { CAIRN_SERVER: base, CAIRN_TOKEN: operatorToken };
  // The guide's command as written (its run id this run's), in a fresh folder.
  const here = mkdtempSync(join(tmpdir(), 'cairn-trajectories-'));
  const folder = join(here, 'trajectories');
  const command = /^cairn (export trajectories r-7f3k2 .*)$/m.exec(readFileSync(guide, 'utf8'))![1]!.replace('r-7f3k2', runId).split(' ');
  const exported = await runCli(command, { env, cwd: here });
  expect(exported.status, exported.stderr).toBe(0);
  expect(exported.stdout).toBe(`${digest} write attempt 1 (ATIF-v1.4) trajectories/write.1.atif.json\n`);
  expect(readdirSync(folder)).toEqual(['write.1.atif.json']);
  const written = JSON.parse(readFileSync(join(folder, 'write.1.atif.json'), 'utf8')) as unknown;
  expect(canonicalJson(written)).toBe(canonicalJson(trajectory));
  expect(atifProblems(written)).toEqual([]);

  // One document to a file with --item; without --output the document on stdout, its digest on stderr.
  const file = join(folder, 'one.json');
  const single = await runCli(['export', 'trajectories', runId, '--item', 'write', '--output', file], { env });
  expect([single.status, single.stdout]).toEqual([0, `${digest} write attempt 1 (ATIF-v1.4) ${file}\n`]);
  expect(canonicalJson(JSON.parse(readFileSync(file, 'utf8')))).toBe(canonicalJson(trajectory));
  const piped = await runCli(['export', 'trajectories', runId], { env });
  expect([piped.status, piped.stderr]).toEqual([0, `${digest} write attempt 1 (ATIF-v1.4)\n`]);
  expect(canonicalJson(JSON.parse(piped.stdout))).toBe(canonicalJson(trajectory));
  const scripted = await runCli(['--json', 'export', 'trajectories', runId], { env });
  expect(JSON.parse(scripted.stdout)).toEqual(view);

  // Refusals, each naming what to change.
  const refusal = async (path: string) => {
    const response = await api(path);
    return [response.status, (await response.json()) as { code: string; path?: string; message: string }] as const;
  };
  expect(await refusal(`/v1/runs/${runId}/trajectories?format=json`)).toEqual([
    400,
    expect.objectContaining({ code: 'CAIRN_PAYLOAD_INVALID', path: 'query.format' }),
  ]);
  expect(await refusal(`/v1/runs/${runId}/trajectories?item=nope`)).toEqual([404, expect.objectContaining({ code: 'CAIRN_NOT_FOUND', path: 'item' })]);
  expect(await refusal(`/v1/runs/r-none/trajectories`)).toEqual([404, expect.objectContaining({ code: 'CAIRN_NOT_FOUND', path: 'runId' })]);
  const commandRun = (await (
    await api('/v1/runs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: 1, name: 'command', items: [{ id: 'shell', runtime: { kind: 'command', argv: ['true'] } }] }),
    })
  ).json()) as { runId: string };
  expect(await refusal(`/v1/runs/${commandRun.runId}/trajectories?item=shell`)).toEqual([
    400,
    expect.objectContaining({ code: 'CAIRN_PAYLOAD_INVALID', path: 'item', message: expect.stringContaining('runs a command, not an agent') }),
  ]);
  const wrongFormat = await runCli(['export', 'trajectories', runId, '--format', 'json'], { env });
  expect([wrongFormat.status, wrongFormat.stderr]).toEqual([2, expect.stringContaining('--format must be atif')]);

  // The committed example is this document, its run-specific values normalised.
  const normalised = `${JSON.stringify(normalise(written), null, 2)}\n`;
  if (process.env['CAIRN_WRITE_DOCS'] === '1') writeFileSync(example, normalised);
  expect(hostFree(normalised)).toBe(hostFree(readFileSync(example, 'utf8')));
});

/** What Claude Code writes about the machine and the day into its prompts, left out of the comparison (it stays in the example). */
function hostFree(text: string): string {
  return text
    .replace(/Today's date is \d{4}-\d{2}-\d{2}/g, "Today's date is <date>")
    .replace(/OS Version: [^\\"]*/g, 'OS Version: <os>')
    .replace(/cc_version=[^;]*/g, 'cc_version=<version>');
}

/** The document with what differs run to run fixed: ids, times, latencies, body digests (the CLI's requests carry its session id). */
function normalise(document: unknown): unknown {
  // Audit sequence numbers depend on what else the server logged first: numbered from 1 here.
  const seqs = [...JSON.stringify(document).matchAll(/"seq":(\d+)/g)].map((match) => Number(match[1]));
  const seqOf = (value: unknown) => (typeof value === 'number' ? seqs.indexOf(value) + 1 : value);
  return JSON.parse(JSON.stringify(document), (key, value: unknown) => {
    if (key === 'session_id') return 'r-example/write/1';
    if (key === 'timestamp') return '2026-11-28T12:00:00.000Z';
    if (key === 'latency_ms') return 250;
    if ((key === 'request' || key === 'response') && typeof value === 'string') return `sha256:${'0'.repeat(64)}`;
    if (key === 'seq' || key === 'model_call_seq') return seqOf(value);
    return value;
  });
}
