// Best of N and model spend (ADR 0053), through a real server (SQLite, the local executor, the real
// worker and its sandbox) with agent candidates calling scripted models through the gateway:
// `stopOnFirstPass` stops the other candidates, whose attempts end `cancelled` with what they spent
// still counted in the run's spend; and a run's budget bounds the candidates' total, so candidate
// spend that reaches it holds the rest of the round's calls (the run awaits its budget) until it is
// raised.
import { verifyBundle } from '@cairn/audit';
import { expect, test } from 'vitest';
import { gatewayServers, modelCallsOf } from './gateway-server.test-support.ts';
import type { ScriptedTurn } from './scripted-models.test-support.ts';

const start = gatewayServers();
const model = 'gpt-4o-mini';
const options = {
  provider: 'openai',
  providerKey: 'sk-provider-5e1c',
  runtimes: { 'openai-compatible': { baseUrl: 'http://127.0.0.1:9/v1', maxTurns: 4, maxRetries: 0 } },
} as const;

/** A promise and the function that settles it: a turn the test holds until every candidate has asked. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

const writeA = (held: Promise<void>): ScriptedTurn => ({
  toolCalls: [{ name: 'write_file', input: { path: 'a.md', content: 'a\n' } }],
  usage: { inputTokens: 300, outputTokens: 100 },
  heldUntil: held,
});

/** One call that writes a.md and finishes: a candidate whole, 700 tokens. */
const once: ScriptedTurn = {
  toolCalls: [
    { name: 'write_file', input: { path: 'a.md', content: 'a\n' } },
    { name: 'finish', input: { exitCode: 0 } },
  ],
  usage: { inputTokens: 600, outputTokens: 100 },
};

/** An agent item of three identical candidates, each writing a.md; the check passes a workspace that has it. */
function candidatesRun(select: object, budget?: object, itemBudget?: object) {
  return {
    version: 1,
    name: 'spend',
    ...(budget === undefined ? {} : { budget }),
    items: [
      {
        id: 'fix',
        runtime: { kind: 'agent', adapter: 'openai-compatible', model, prompt: 'Write a.md.' },
        candidates: { count: 3 },
        select: { check: { argv: ['/bin/sh', '-c', 'test -f a.md'], timeout: '1m' }, ...select },
        ...(itemBudget === undefined ? {} : { budget: itemBudget }),
      },
    ],
  };
}

type Api = (path: string, init?: RequestInit) => Promise<Response>;
async function submit(api: Api, spec: object): Promise<string> {
  const response = await api('/v1/runs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
  const answer = (await response.json()) as { runId?: string };
  expect(response.status, JSON.stringify(answer)).toBe(201);
  return answer.runId!;
}
const runOf = async (api: Api, runId: string) =>
  (await (await api(`/v1/runs/${runId}`)).json()) as { state: string; spend?: { total: { inputTokens: number; outputTokens: number; calls: number } } };

test('stopOnFirstPass: the other candidates end cancelled, and what they spent is still the run’s spend', { timeout: 120_000 }, async () => {
  // Every candidate's first call is held until all three have asked, so each has spent 400 tokens
  // before any can finish; the first to call again is told it is done (it passes the check and
  // wins), the others' second calls are never answered: they are stopped mid-call.
  const first = gate();
  const { api, composition, models } = await start(
    {
      chat: [
        writeA(first.opened),
        writeA(first.opened),
        writeA(first.opened),
        { text: 'Done.', usage: { inputTokens: 10, outputTokens: 5 } },
        { text: 'never sent', stall: 'before-response', usage: { inputTokens: 0, outputTokens: 0 } },
        { text: 'never sent', stall: 'before-response', usage: { inputTokens: 0, outputTokens: 0 } },
      ],
    },
    options,
  );
  const runId = await submit(api, candidatesRun({ order: 'first', stopOnFirstPass: true }));
  await expect
    .poll(() => models.turns('chat').length, {
      timeout: 60_000,
      message: JSON.stringify([composition.engine.attempts(runId, 'fix'), composition.engine.items(runId)]),
    })
    .toBe(3);
  first.open();
  const ended = await composition.engine.waitForRun(runId);
  expect(ended.state, JSON.stringify(composition.engine.items(runId))).toBe('succeeded');
  expect(models.turns('chat')).toHaveLength(6);

  const attempts = composition.engine.attempts(runId, 'fix');
  const states = attempts.map((attempt) => attempt.state);
  expect([...states].sort()).toEqual(['cancelled', 'cancelled', 'succeeded']);
  const winner = attempts.find((attempt) => attempt.state === 'succeeded')!.attempt;
  const entries = [...composition.engine.audit.runEntries(runId)];
  expect(entries.find((entry) => entry.action === 'candidate.selected')?.data).toMatchObject({ attempt: winner, stopOnFirstPass: true, passed: [winner] });

  // Each candidate's spend is recorded against its own attempt: 400 tokens for each of the three
  // first calls and 15 for the winner's second; the stopped calls were never answered.
  const calls = modelCallsOf(composition, runId);
  const byAttempt = new Map<number, number>();
  for (const call of calls) {
    const attempt = Number(call.data['attempt']);
    const tokens = Number(call.data['inputTokens'] ?? 0) + Number(call.data['outputTokens'] ?? 0);
    byAttempt.set(attempt, (byAttempt.get(attempt) ?? 0) + tokens);
  }
  expect(Object.fromEntries(byAttempt), JSON.stringify(calls.map((call) => [call.entity, call.outcome, call.data]))).toEqual(
    Object.fromEntries(attempts.map((attempt) => [attempt.attempt, attempt.attempt === winner ? 415 : 400])),
  );
  // The run's spend counts the cancelled candidates' calls with the winner's.
  expect((await runOf(api, runId)).spend?.total).toMatchObject({ inputTokens: 910, outputTokens: 305 });

  const bundle = await (await api(`/v1/runs/${runId}/bundle`)).text();
  const report = await verifyBundle(new TextEncoder().encode(bundle), { trustedKeys: [composition.signingKey] });
  expect(
    report.checks.find((check) => check.name === 'candidates'),
    JSON.stringify(report.checks),
  ).toMatchObject({ status: 'pass' });
});

test(
  'a run’s budget bounds its candidates together: their spend reaching it holds the rest of the round until it is raised',
  { timeout: 120_000 },
  async () => {
    // Each candidate writes a.md and finishes in one call of 700 tokens. Two calls take the run to
    // 1,400 of its 1,000 tokens: the third candidate's call finds the run spent and is held (it never
    // reaches the model) until the budget is raised. Who calls third does not matter: all are alike.
    const { api, composition, models } = await start({ chat: [once, once, once] }, options);
    const runId = await submit(api, candidatesRun({ order: 'smallest-diff' }, { tokens: 1_000 }));
    await expect.poll(async () => (await runOf(api, runId)).state, { timeout: 60_000 }).toBe('awaiting-budget');
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(models.turns('chat')).toHaveLength(2);
    const states = () => composition.engine.attempts(runId, 'fix').map((attempt) => attempt.state);
    // The two answered candidates end as their sandboxes do (later on a loaded machine); the held one runs on.
    await expect.poll(() => [...states()].sort(), { timeout: 60_000 }).toEqual(['running', 'succeeded', 'succeeded']);
    expect(composition.engine.items(runId).find((item) => item.itemId === 'fix')?.state).toBe('running');
    const exhausted = [...composition.engine.audit.runEntries(runId)].find((entry) => entry.action === 'run.budget-exhausted');
    expect(exhausted?.data['spent']).toMatchObject({ inputTokens: 1_200, outputTokens: 200, calls: 2 });

    const raised = await api(`/v1/runs/${runId}/budget`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ budget: { tokens: 5_000 }, reason: 'three candidates cost three times one' }),
    });
    expect(raised.status, await raised.clone().text()).toBe(202);
    const ended = await composition.engine.waitForRun(runId);
    expect(ended.state, JSON.stringify(composition.engine.items(runId))).toBe('succeeded');
    expect(states()).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(models.turns('chat')).toHaveLength(3);
    expect((await runOf(api, runId)).spend?.total).toMatchObject({ inputTokens: 1_800, outputTokens: 300, calls: 3 });
  },
);

test(
  'an item’s budget is its candidates’ total: once their spend reaches it, the next candidate’s call is refused and it cannot win',
  { timeout: 120_000 },
  async () => {
    // The calls go one at a time (each reserves more than the budget's room beside another): two
    // take the item to 1,400 of its 1,000 tokens, and the third is refused with CAIRN_BUDGET_EXCEEDED
    // — its candidate fails, is not checked, and one of the two that passed wins.
    const { api, composition, models } = await start({ chat: [once, once, once] }, options);
    const runId = await submit(api, candidatesRun({ order: 'smallest-diff' }, undefined, { tokens: 1_000 }));
    const ended = await composition.engine.waitForRun(runId);
    expect(ended.state, JSON.stringify(composition.engine.items(runId))).toBe('succeeded');
    expect(models.turns('chat')).toHaveLength(2);
    const calls = modelCallsOf(composition, runId);
    expect(calls.map((call) => call.outcome).sort()).toEqual(['denied', 'success', 'success']);
    const refused = calls.find((call) => call.outcome === 'denied')!;
    expect(refused.data).toMatchObject({ status: 402, reason: expect.stringContaining('item fix has used 1400 tokens of its budget of 1000') });
    const attempts = composition.engine.attempts(runId, 'fix');
    const loser = attempts.find((attempt) => attempt.state === 'failed');
    expect(loser?.executionId).toBe(refused.entity.id);
    expect(attempts.filter((attempt) => attempt.state === 'succeeded')).toHaveLength(2);
    const entries = [...composition.engine.audit.runEntries(runId)];
    const checked = entries.filter((entry) => entry.action === 'candidate.checked');
    expect(checked.find((entry) => entry.entity.id === refused.entity.id)?.data).toMatchObject({ outcome: 'failed', check: null });
    const selected = entries.find((entry) => entry.action === 'candidate.selected')!;
    expect(selected.data['passed']).toHaveLength(2);
    expect(selected.data['passed']).not.toContain(loser!.attempt);
    expect((await runOf(api, runId)).spend?.total).toMatchObject({ inputTokens: 1_200, outputTokens: 200, calls: 3, denied: 1 });
  },
);
