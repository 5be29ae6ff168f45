// Best of N through a real server (SQLite, directory storage, the local executor, bubblewrap where
// the machine has it, the real worker): the guide's example runs as written — three candidates,
// two pass the check, the smaller diff wins — `cairn status` shows them as the guide does, the
// bundle verifies and an edited choice does not; and a round where none passes fails, listing each.
import { verifyBundle } from '@cairn/audit';
import { createCairnClient } from '@cairn/client';
import { expect, test } from 'vitest';
import { gatewayServers } from '../capabilities/gateway/gateway-server.test-support.ts';
import { runCli } from '../cli/run-cli.test-support.ts';
import { guideExample } from './guide-example.test-support.ts';
import { runningServers } from './running-server.test-support.ts';

const start = runningServers();
const startWithModels = gatewayServers();
const { blocks, spec, workspace } = guideExample('best-of-n.md', 'calc');

test("the guide's example: of three candidates two pass the check, the smaller diff wins, and the evidence proves it", { timeout: 120_000 }, async () => {
  const { base, operatorToken, composition } = await start();
  const client = createCairnClient({ baseUrl: base, token: operatorToken });
  const { runId } = await client.submit(spec('best-of-three'), { workspace: workspace() });
  const run = await client.waitForRun(runId, { signal: AbortSignal.timeout(90_000) });
  const items = await client.items(runId);
  expect(run.state, JSON.stringify(items, null, 2)).toBe('succeeded');
  expect(items.map(({ itemId, state }) => [itemId, state])).toEqual([
    ['fix', 'succeeded'],
    ['ship', 'succeeded'],
  ]);
  const attempts = await client.attempts(runId, 'fix');
  expect(attempts.map((attempt) => attempt['state'])).toEqual(['succeeded', 'succeeded', 'succeeded']);
  expect(items[0]!['candidates']).toMatchObject({
    count: 3,
    order: 'smallest-diff',
    winner: 3,
    checked: expect.arrayContaining([
      expect.objectContaining({ candidate: 1, passed: false, exitCode: 1 }),
      expect.objectContaining({ candidate: 2, passed: true, exitCode: 0 }),
      expect.objectContaining({ candidate: 3, passed: true, exitCode: 0 }),
    ]),
  });
  const patch = await client.patch(runId, 'fix');
  expect(patch).toContain('-add() { a=$1; b=$2; echo $((a - b)); }\n+add() { a=$1; b=$2; echo $((a + b)); }\n');
  // The failing candidate's check output is in its attempt's log, not in the audit log.
  const log = await runCli(['logs', runId, 'fix', '--attempt', '1', '--server', base], { env: { CAIRN_TOKEN: operatorToken } });
  expect(log.stdout, log.stderr).toContain('add 2 3 gave 6');

  // `cairn status` shows the candidates as the guide does.
  const status = await runCli(['status', runId, '--server', base], { env: { CAIRN_TOKEN: operatorToken } });
  expect(status.status, status.stderr).toBe(0);
  const shown = blocks('text')[0]!.trimEnd().split('\n');
  const statusLines = status.stdout.split('\n').map((line) => line.trim());
  for (const line of shown) expect(statusLines, status.stdout).toContain(line.trim());

  const bundleText = await (await fetch(`${base}/v1/runs/${runId}/bundle`, { headers: { authorization: `Bearer ${operatorToken}` } })).text();
  const verify = (value: unknown) => verifyBundle(value, { trustedKeys: [composition.signingKey] });
  const report = await verify(new TextEncoder().encode(bundleText));
  expect(
    report.checks.find((check) => check.name === 'candidates'),
    JSON.stringify(report.checks),
  ).toMatchObject({ status: 'pass' });
  expect(report.verdict).toBe('verified');
  const edited = JSON.parse(bundleText) as { entries: { action: string; data: Record<string, unknown> }[] };
  const choice = edited.entries.find((entry) => entry.action === 'candidate.selected')!;
  choice.data['attempt'] = 2;
  choice.data['patch'] = edited.entries.find((entry) => entry.action === 'candidate.checked' && entry.data['attempt'] === 2)!.data['patch'];
  const refused = await verify(edited);
  expect(refused.verdict).toBe('failed');
  expect(refused.checks.find((check) => check.name === 'candidates')?.detail).toContain('chooses attempt 2, but order smallest-diff puts attempt 3 first');
});

test(
  'no candidate passes: the item fails with CAIRN_CANDIDATES_NONE_PASSED, each candidate listed, and what applies it is skipped',
  { timeout: 120_000 },
  async () => {
    const { base, operatorToken } = await start();
    const client = createCairnClient({ baseUrl: base, token: operatorToken });
    const none = spec('best-of-three').replace('s/a - b/a + b/', 's/a - b/a + b + 1/');
    expect(none).toContain('a + b + 1');
    const { runId } = await client.submit(
      none.replace(/printf 'add\(\) \{ a=\$1; b=\$2; sum=\$\(\(a \+ b\)\)/, "printf 'add() { a=$1; b=$2; sum=$((a + b + 2))"),
      { workspace: workspace() },
    );
    const run = await client.waitForRun(runId, { signal: AbortSignal.timeout(90_000) });
    const items = await client.items(runId);
    expect(run.state).toBe('failed');
    expect(items[0]).toMatchObject({ itemId: 'fix', state: 'failed', failure: { code: 'CAIRN_CANDIDATES_NONE_PASSED' } });
    expect(items[0]!.failure!.message).toBe(
      "No candidate of round 1 passed its check: candidate 1 (attempt 1): check failed (exit 1); candidate 2 (attempt 2): check failed (exit 1); candidate 3 (attempt 3): check failed (exit 1). Each check's output is in its attempt's log. No rounds are left (retry.maxAttempts counts rounds).",
    );
    expect(items[1]!.state).toBe('skipped');
  },
);

test("the guide's judge: it chooses candidate 2 although the order would take 3, and the status says so as the guide does", { timeout: 120_000 }, async () => {
  // The judge's model is scripted: it answers the guide's prompt with candidate 2.
  const { base, operatorToken, composition, models } = await startWithModels(
    { chat: [{ text: 'Both pass.\n{"candidate": 2, "reason": "it names the sum"}', usage: { inputTokens: 200, outputTokens: 20 } }] },
    {
      provider: 'openai',
      providerKey: 'sk-provider-5e1c',
      runtimes: { 'openai-compatible': { baseUrl: 'http://127.0.0.1:9/v1', maxTurns: 4, maxRetries: 0 } },
    },
  );
  const client = createCairnClient({ baseUrl: base, token: operatorToken });
  const { runId } = await client.submit(spec('best-of-three-judged'), { workspace: workspace() });
  const run = await client.waitForRun(runId, { signal: AbortSignal.timeout(90_000) });
  expect(run.state, JSON.stringify(await client.items(runId), null, 2)).toBe('succeeded');
  expect(models.turns('chat')).toHaveLength(1);
  expect((await client.attempts(runId, 'fix')).map((attempt) => attempt['state'])).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
  const patch = await client.patch(runId, 'fix');
  expect(patch).toContain('sum=$((a + b))');

  const status = await runCli(['status', runId, '--server', base], { env: { CAIRN_TOKEN: operatorToken } });
  expect(status.status, status.stderr).toBe(0);
  const statusLines = status.stdout.split('\n').map((line) => line.trim());
  for (const line of blocks('text')[1]!.trimEnd().split('\n')) expect(statusLines, status.stdout).toContain(line.trim());

  const bundleText = await (await fetch(`${base}/v1/runs/${runId}/bundle`, { headers: { authorization: `Bearer ${operatorToken}` } })).text();
  const report = await verifyBundle(new TextEncoder().encode(bundleText), { trustedKeys: [composition.signingKey] });
  expect(
    report.checks.find((check) => check.name === 'candidates'),
    JSON.stringify(report.checks),
  ).toMatchObject({ status: 'pass' });
  expect(report.verdict).toBe('verified');
});
