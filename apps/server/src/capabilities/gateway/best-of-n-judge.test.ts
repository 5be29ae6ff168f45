// The judge of best of N (ADR 0053), through a real server (SQLite, the local executor, the real
// worker and its sandbox) with agent candidates and an agent judge calling scripted models through
// the gateway: its choice among the passing candidates wins although the order would pick
// another, and the bundle proves it (an edited choice does not verify); a choice of a failing
// candidate is refused and the order decides; and with fewer than two passing there is no judge.
import { verifyBundle } from '@cairn/audit';
import type { AuditEntry, EvidenceBundleV1 } from '@cairn/core';
import { expect, test } from 'vitest';
import { candidateLines, candidatesOf } from '../../cli/candidate-lines.ts';
import { gatewayServers } from './gateway-server.test-support.ts';
import type { ScriptedTurn } from './scripted-models.test-support.ts';

const start = gatewayServers();
const model = 'gpt-4o-mini';
// This runtime writes lines of its own to stdout after what the model said ("finished after 2
// turns"): the judge's answer is its last line that is a JSON object, not its last line.
const options = {
  provider: 'openai',
  providerKey: 'sk-provider-5e1c',
  runtimes: { 'openai-compatible': { baseUrl: 'http://127.0.0.1:9/v1', maxTurns: 4, maxRetries: 0 } },
} as const;

/** One call that writes `path` with `content` and finishes: a candidate whole. */
const writes = (path: string, content: string): ScriptedTurn => ({
  toolCalls: [
    { name: 'write_file', input: { path, content } },
    { name: 'finish', input: { exitCode: 0 } },
  ],
  usage: { inputTokens: 100, outputTokens: 20 },
});

/** The judge's first turn: it reads what it was given. */
const readsListing: ScriptedTurn = {
  toolCalls: [{ name: 'read_file', input: { path: '.cairn-inputs/candidates.json' } }],
  usage: { inputTokens: 50, outputTokens: 10 },
};

/** The judge's answer, held until the test has seen the round's checks and written `text`. */
function heldAnswer() {
  let open!: () => void;
  const turn = { text: 'placeholder', usage: { inputTokens: 60, outputTokens: 15 }, heldUntil: new Promise<void>((resolve) => (open = resolve)) };
  return { turn, answer: (text: string) => ((turn.text = text), open()) };
}

/** Three agent candidates; the check passes a workspace with a.md; order smallest-diff; a judge. */
function judgedRun(judge = true) {
  return {
    version: 1,
    name: 'judged',
    items: [
      {
        id: 'fix',
        runtime: { kind: 'agent', adapter: 'openai-compatible', model, prompt: 'Write a.md.' },
        candidates: { count: 3 },
        select: {
          check: { argv: ['/bin/sh', '-c', 'test -f a.md && echo "a.md is there"'], timeout: '1m' },
          order: 'smallest-diff',
          ...(judge ? { judge: { runtime: { kind: 'agent', adapter: 'openai-compatible', model, prompt: 'Choose the best candidate.' }, timeout: '1m' } } : {}),
        },
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

const candidateTurns = () => [writes('a.md', 'a\n'), writes('a.md', 'a much longer a.md than the other one\n'), writes('b.md', 'b\n')];
const entriesOf = (composition: { engine: { audit: { runEntries(runId: string): Iterable<AuditEntry> } } }, runId: string) => [
  ...composition.engine.audit.runEntries(runId),
];

/** The round's checks once all three are in: the passing ones by patch size, and the failing one. */
async function checkedRound(composition: Parameters<typeof entriesOf>[0], runId: string) {
  const checkedNow = () => entriesOf(composition, runId).filter((entry) => entry.action === 'candidate.checked');
  await expect.poll(() => checkedNow().length, { timeout: 60_000 }).toBe(3);
  const checked = checkedNow();
  const passing = checked
    .filter((entry) => (entry.data['check'] as { passed?: boolean } | null)?.passed === true)
    .sort((a, b) => Number(a.data['patchBytes']) - Number(b.data['patchBytes']));
  const failing = checked.filter((entry) => !passing.includes(entry));
  return { passing, failing };
}

test(
  'the judge’s choice among the passing candidates wins over the order’s, the bundle proves it, and an edited choice fails',
  { timeout: 120_000 },
  async () => {
    const judge = heldAnswer();
    const { api, composition, models } = await start({ chat: [...candidateTurns(), readsListing, judge.turn] }, options);
    const runId = await submit(api, judgedRun());
    const { passing, failing } = await checkedRound(composition, runId);
    expect(passing).toHaveLength(2);
    // The order (smallest-diff) would take passing[0]; the judge takes the larger one.
    const [smaller, larger] = passing as [AuditEntry, AuditEntry];
    await expect.poll(() => models.turns('chat').length, { timeout: 60_000 }).toBe(5);
    judge.answer(`I compared both.\n{"candidate": ${String(larger.data['candidate'])}, "reason": "its a.md says more"}`);
    const ended = await composition.engine.waitForRun(runId);
    expect(ended.state, JSON.stringify(composition.engine.items(runId))).toBe('succeeded');

    // The judge was attempt 4, after the round, over its own sandbox; it read the passing candidates'
    // listing (patch files and check output tails), and nothing of the failing one.
    const attempts = composition.engine.attempts(runId, 'fix');
    expect(attempts.map((attempt) => [attempt.attempt, attempt.state])).toEqual([
      [1, 'succeeded'],
      [2, 'succeeded'],
      [3, 'succeeded'],
      [4, 'succeeded'],
    ]);
    const toolResult = JSON.stringify(models.turns('chat')[4]!.body);
    const listing = JSON.parse(
      (models.turns('chat')[4]!.body!['messages'] as { role: string; content: string }[]).find((message) => message.role === 'tool')!.content,
    ) as { candidates: { candidate: number; patch: string; checkTail: string }[] };
    expect(listing.candidates.map((each) => each.candidate)).toEqual([smaller, larger].map((entry) => Number(entry.data['candidate'])).sort());
    expect(listing.candidates.every((each) => each.checkTail === 'a.md is there\n' && each.patch === `candidate-${each.candidate}.patch`)).toBe(true);
    expect(toolResult).not.toContain(`candidate-${String(failing[0]!.data['candidate'])}.patch`);

    const entries = entriesOf(composition, runId);
    // Its two model calls went through the gateway as its own attempt's, counted in the run's spend.
    const judgeCalls = entries.filter((entry) => entry.action === 'model.called' && entry.data['attempt'] === 4);
    expect(judgeCalls.map((call) => [call.outcome, call.data['inputTokens']])).toEqual([
      ['success', 50],
      ['success', 60],
    ]);
    const judged = entries.find((entry) => entry.action === 'candidate.judged');
    expect(judged?.entity.id).toBe(`${runId}/fix/4`);
    expect(judged?.data).toMatchObject({
      attempt: 4,
      round: 1,
      chosen: larger.data['attempt'],
      candidate: larger.data['candidate'],
      reason: 'its a.md says more',
    });
    const selected = entries.find((entry) => entry.action === 'candidate.selected');
    expect(selected?.data).toMatchObject({ attempt: larger.data['attempt'], decidedBy: 'judge', order: 'smallest-diff', patch: larger.data['patch'] });
    expect(String(selected?.data['reason'])).toContain('its a.md says more');
    expect(entries.some((entry) => entry.action === 'candidate.judge-refused')).toBe(false);

    // The items API and the bundle say who decided.
    const items = (await (await api(`/v1/runs/${runId}/items`)).json()) as { itemId: string; candidates?: Record<string, unknown> }[];
    expect(items.find((item) => item.itemId === 'fix')?.candidates).toMatchObject({
      winner: larger.data['attempt'],
      decidedBy: 'judge',
      judge: { attempt: larger.data['attempt'], reason: 'its a.md says more', refused: null },
    });
    // `cairn status` says who decided and why.
    expect(candidateLines(candidatesOf(items.find((item) => item.itemId === 'fix')!), 0).at(-1)).toBe(
      "  won (decided by the judge): the judge's choice among 2 passing candidates: its a.md says more",
    );
    const bundle = JSON.parse(await (await api(`/v1/runs/${runId}/bundle`)).text()) as EvidenceBundleV1;
    const report = await verifyBundle(bundle, { trustedKeys: [composition.signingKey] });
    expect(
      report.checks.find((check) => check.name === 'candidates'),
      JSON.stringify(report.checks),
    ).toMatchObject({ status: 'pass' });
    // The judge's choice edited to the failing candidate (and the selection with it) fails the check.
    const edited = structuredClone(bundle);
    const editedJudged = edited.entries.find((entry) => entry.action === 'candidate.judged')!;
    (editedJudged.data as Record<string, unknown>)['chosen'] = failing[0]!.data['attempt'];
    (editedJudged.data as Record<string, unknown>)['candidate'] = failing[0]!.data['candidate'];
    const editedSelected = edited.entries.find((entry) => entry.action === 'candidate.selected')!;
    (editedSelected.data as Record<string, unknown>)['attempt'] = failing[0]!.data['attempt'];
    const refused = await verifyBundle(edited, { trustedKeys: [composition.signingKey] });
    expect(refused.verdict).toBe('failed');
    expect(refused.checks.find((check) => check.name === 'candidates')?.detail).toMatch(
      /which did not pass its check: a judge may only choose among those that passed$/,
    );
  },
);

test('a judge that chooses a failing candidate is refused, and the order decides without failing the item', { timeout: 120_000 }, async () => {
  const judge = heldAnswer();
  const { api, composition, models } = await start({ chat: [...candidateTurns(), readsListing, judge.turn] }, options);
  const runId = await submit(api, judgedRun());
  const { passing, failing } = await checkedRound(composition, runId);
  await expect.poll(() => models.turns('chat').length, { timeout: 60_000 }).toBe(5);
  judge.answer(`{"candidate": ${String(failing[0]!.data['candidate'])}, "reason": "b.md is nicer"}`);
  const ended = await composition.engine.waitForRun(runId);
  expect(ended.state, JSON.stringify(composition.engine.items(runId))).toBe('succeeded');
  const entries = entriesOf(composition, runId);
  const refusal = entries.find((entry) => entry.action === 'candidate.judge-refused');
  expect(refusal?.data).toMatchObject({ attempt: 4, round: 1, reason: expect.stringContaining('which did not pass its check') });
  expect(String(refusal?.data['answer'])).toContain('b.md is nicer');
  const items = (await (await api(`/v1/runs/${runId}/items`)).json()) as { itemId: string; candidates?: Record<string, unknown> }[];
  const lines = candidateLines(candidatesOf(items.find((item) => item.itemId === 'fix')!), 0);
  expect(lines.at(-2)).toMatch(/^ {2}won: the smallest diff/);
  expect(lines.at(-1)).toMatch(/^ {2}judge refused, the order decided: the judge chose candidate \d, which did not pass its check/);
  expect(entries.some((entry) => entry.action === 'candidate.judged')).toBe(false);
  expect(entries.find((entry) => entry.action === 'candidate.selected')?.data).toMatchObject({ attempt: passing[0]!.data['attempt'], decidedBy: 'order' });
  const bundle = await (await api(`/v1/runs/${runId}/bundle`)).text();
  const report = await verifyBundle(new TextEncoder().encode(bundle), { trustedKeys: [composition.signingKey] });
  expect(
    report.checks.find((check) => check.name === 'candidates'),
    JSON.stringify(report.checks),
  ).toMatchObject({ status: 'pass' });
});

test('with fewer than two passing candidates the judge is not run', { timeout: 120_000 }, async () => {
  const { api, composition, models } = await start({ chat: [writes('a.md', 'a\n'), writes('b.md', 'b\n'), writes('c.md', 'c\n')] }, options);
  const runId = await submit(api, judgedRun());
  const ended = await composition.engine.waitForRun(runId);
  expect(ended.state, JSON.stringify(composition.engine.items(runId))).toBe('succeeded');
  expect(models.turns('chat')).toHaveLength(3);
  expect(composition.engine.attempts(runId, 'fix')).toHaveLength(3);
  const entries = entriesOf(composition, runId);
  expect(entries.some((entry) => entry.action === 'candidate.judged' || entry.action === 'candidate.judge-refused')).toBe(false);
  expect(entries.find((entry) => entry.action === 'candidate.selected')?.data).toMatchObject({ decidedBy: 'order', passed: [expect.any(Number)] });
  const bundle = await (await api(`/v1/runs/${runId}/bundle`)).text();
  const report = await verifyBundle(new TextEncoder().encode(bundle), { trustedKeys: [composition.signingKey] });
  expect(report.checks.find((check) => check.name === 'candidates')).toMatchObject({ status: 'pass' });
});
