// The real Codex CLI (@openai/codex, pinned) in a bubblewrap sandbox without network, its model
// reached through the gateway over the streamed Responses API against scripted endpoints, exported
// as ATIF through the real route: a freeform apply_patch call and a shell call, each with the
// result Codex sent back as its observation, and the last answer; the document passes the schema.
import { digestOfJson } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { codexCommand } from '../../gateway/agent-clis.test-support.ts';
import { gatewayServers, submitAgentRun } from '../../gateway/gateway-server.test-support.ts';
import { atifProblems } from './atif-schema.test-support.ts';

const start = gatewayServers();
const model = 'gpt-5.5';
const patch = '*** Begin Patch\n*** Add File: hello.txt\n+hello from the scripted model\n*** End Patch\n';

test('a codex attempt exported as ATIF: apply_patch and a shell call with their results, over streamed Responses', { timeout: 150_000 }, async () => {
  const usages = [
    { inputTokens: 500, outputTokens: 40, cacheReadTokens: 3_000 },
    { inputTokens: 60, outputTokens: 20, cacheReadTokens: 3_500 },
    { inputTokens: 70, outputTokens: 9, cacheReadTokens: 3_600 },
  ];
  const [binary] = codexCommand();
  const { api, composition } = await start(
    {
      responses: [
        { toolCalls: [{ name: 'apply_patch', input: patch }], usage: usages[0]! },
        { toolCalls: [{ name: 'exec_command', input: { cmd: "printf 'from the shell\\n' > shell.txt" } }], usage: usages[1]! },
        { text: 'Created hello.txt and shell.txt.', usage: usages[2]! },
      ],
    },
    { provider: 'openai', providerKey: 'sk-provider-codex-90ad', runtimes: { codex: { command: binary } } },
  );
  const runId = await submitAgentRun(api, { network: false, runtime: { kind: 'agent', adapter: 'codex', model, prompt: 'Create hello.txt and shell.txt.' } });
  expect((await composition.engine.waitForRun(runId)).state, JSON.stringify(composition.engine.attempts(runId, 'write'))).toBe('succeeded');

  const answer = await api(`/v1/runs/${runId}/trajectories?format=atif`);
  const view = (await answer.json()) as { trajectories: { itemId: string; attempt: number; digest: string; trajectory: any }[] };
  expect(answer.status, JSON.stringify(view)).toBe(200);
  expect(view.trajectories).toHaveLength(1);
  const [{ digest, trajectory }] = view.trajectories as [(typeof view.trajectories)[0]];
  expect(atifProblems(trajectory)).toEqual([]);
  expect(digest).toBe(digestOfJson(trajectory));
  expect(trajectory.agent).toEqual({ name: 'codex', version: 'unrecorded', model_name: model });

  const steps = trajectory.steps as any[];
  expect(steps.some((step) => step.source === 'user' && step.message.includes('Create hello.txt and shell.txt.'))).toBe(true);
  const agentSteps = steps.filter((step) => step.source === 'agent' && step.extra?.model_call_seq !== undefined);
  expect(agentSteps.map((step) => step.tool_calls?.map((call: any) => call.function_name) ?? [])).toEqual([['apply_patch'], ['exec_command'], []]);
  expect(agentSteps[0].tool_calls[0].arguments).toEqual({ input: patch });
  expect(agentSteps[1].tool_calls[0].arguments).toEqual({ cmd: "printf 'from the shell\\n' > shell.txt" });
  // Codex sent each call's result back: each is the observation of the step that made the call.
  for (const step of agentSteps.slice(0, 2)) {
    expect(step.observation.results).toHaveLength(1);
    expect(step.observation.results[0].source_call_id).toBe(step.tool_calls[0].tool_call_id);
    expect(step.observation.results[0].content.length).toBeGreaterThan(0);
  }
  expect(agentSteps[2].message).toBe('Created hello.txt and shell.txt.');
  expect(agentSteps.map((step) => [step.metrics.prompt_tokens, step.metrics.completion_tokens, step.metrics.cached_tokens])).toEqual(
    usages.map((usage) => [usage.inputTokens + usage.cacheReadTokens, usage.outputTokens, usage.cacheReadTokens]),
  );
  expect(trajectory.final_metrics).toMatchObject({ total_prompt_tokens: 10_730, total_completion_tokens: 69, total_cached_tokens: 10_100 });
});
