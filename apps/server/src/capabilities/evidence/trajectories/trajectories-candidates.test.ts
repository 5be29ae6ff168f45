// Best of N and trajectories, through a real server and sandbox: each candidate of an agent item is
// an attempt of its own, so it has a trajectory of its own, here from Cairn's openai-compatible
// runtime over Chat Completions through the gateway; every document passes the ATIF-v1.4 schema.
import { expect, test } from 'vitest';
import { gatewayServers, modelCallsOf } from '../../gateway/gateway-server.test-support.ts';
import type { ScriptedTurn } from '../../gateway/scripted-models.test-support.ts';
import { atifProblems } from './atif-schema.test-support.ts';

const start = gatewayServers();
const model = 'gpt-4o-mini';

/** One call that writes a.md and finishes: a candidate whole. */
const once: ScriptedTurn = {
  toolCalls: [
    { name: 'write_file', input: { path: 'a.md', content: 'a\n' } },
    { name: 'finish', input: { exitCode: 0 } },
  ],
  usage: { inputTokens: 600, outputTokens: 100 },
};

test('each candidate of a best-of-N agent item exports as its own ATIF document', { timeout: 120_000 }, async () => {
  const { api, base, composition } = await start(
    { chat: [once, once] },
    {
      provider: 'openai',
      providerKey: 'sk-provider-77c0',
      runtimes: { 'openai-compatible': { baseUrl: 'http://127.0.0.1:9/v1', maxTurns: 4, maxRetries: 0 } },
    },
  );
  const spec = {
    version: 1,
    name: 'candidates',
    items: [
      {
        id: 'fix',
        runtime: { kind: 'agent', adapter: 'openai-compatible', model, prompt: 'Write a.md.' },
        candidates: { count: 2 },
        select: { check: { argv: ['/bin/sh', '-c', 'test -f a.md'], timeout: '1m' }, order: 'first' },
      },
    ],
  };
  const submitted = await api('/v1/runs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
  const { runId } = (await submitted.json()) as { runId: string };
  expect((await composition.engine.waitForRun(runId)).state).toBe('succeeded');

  const answer = await api(`/v1/runs/${runId}/trajectories?item=fix`);
  const view = (await answer.json()) as { trajectories: { itemId: string; attempt: number; digest: string; trajectory: any }[] };
  expect(answer.status, JSON.stringify(view)).toBe(200);
  const attempts = [...new Set(modelCallsOf(composition, runId).map((entry) => entry.data['attempt']))].sort();
  expect(attempts).toHaveLength(2);
  expect(view.trajectories.map(({ itemId, attempt }) => [itemId, attempt])).toEqual(attempts.map((attempt) => ['fix', attempt]));
  for (const { trajectory } of view.trajectories) {
    expect(atifProblems(trajectory)).toEqual([]);
    expect(trajectory.agent).toEqual({ name: 'openai-compatible', version: 'unrecorded', model_name: model });
    const agent = (trajectory.steps as any[]).filter((step) => step.source === 'agent');
    expect(agent.map((step) => step.tool_calls.map((call: any) => [call.function_name, call.arguments]))).toEqual([
      [
        ['write_file', { path: 'a.md', content: 'a\n' }],
        ['finish', { exitCode: 0 }],
      ],
    ]);
    expect(agent[0].metrics).toMatchObject({ prompt_tokens: 600, completion_tokens: 100, cached_tokens: 0 });
    expect(trajectory.steps.find((step: any) => step.source === 'user')?.message).toContain('Write a.md.');
  }
  // The read permission of the run's evidence: a token that may read runs but not the audit is refused.
  const created = await api('/v1/tokens', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'viewer', scopes: ['runs:read'] }),
  });
  const { token } = (await created.json()) as { token: string };
  const refused = await fetch(`${base}/v1/runs/${runId}/trajectories`, { headers: { authorization: `Bearer ${token}` } });
  expect([refused.status, ((await refused.json()) as { code: string }).code]).toEqual([403, 'CAIRN_FORBIDDEN']);

  // The two candidates are two sessions, two documents, two digests.
  expect(new Set(view.trajectories.map((entry) => entry.trajectory.session_id)).size).toBe(2);
  expect(new Set(view.trajectories.map((entry) => entry.digest)).size).toBe(2);
});
