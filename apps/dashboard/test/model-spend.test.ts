// What agents spent, on a run's page in Debian's Chromium: an openai-compatible item calls scripted
// Chat Completions endpoints through the server's model gateway (ADR 0033); the run's header and the
// item's panel show the spend the gateway metered, and the attempt's model calls are listed.
import { expect, test } from 'vitest';
import { gatewayServers, submitAgentRun } from '../../server/src/capabilities/gateway/gateway-server.test-support.ts';
import { browserPages } from './browser-pages.test-support.ts';
import { runReaches } from './submit-run.test-support.ts';

const start = gatewayServers();
const { signedIn, screenshot } = browserPages();

test("a run's spend is in its header, an item's in its panel, and an attempt's model calls are listed", async () => {
  const { base, api, operatorToken } = await start(
    {
      chat: [
        {
          toolCalls: [{ name: 'write_file', input: { path: 'notes.md', content: 'from the model\n' } }],
          usage: { inputTokens: 1_200, outputTokens: 300, cacheReadTokens: 800 },
        },
        { text: 'Done.', usage: { inputTokens: 1_500, outputTokens: 40 } },
      ],
    },
    { provider: 'openai', providerKey: 'sk-provider-dashboard', runtimes: { 'openai-compatible': { baseUrl: 'http://127.0.0.1:9/v1', maxRetries: 0 } } },
  );
  const runId = await submitAgentRun(api, { runtime: { kind: 'agent', adapter: 'openai-compatible', model: 'gpt-4o-mini', prompt: 'Write notes.md.' } });
  await runReaches(api, runId);
  const page = await signedIn(base, operatorToken, `#/runs/${runId}/items/write`);
  const tokens = '3840 tokens (2700 in, 340 out, 800 cached)';
  await expect.poll(() => page.locator('.run-spend').textContent()).toMatch(new RegExp(`spent \\$[0-9.e-]+ on 2 model calls · ${escape(tokens)}`));
  await expect.poll(() => page.locator('.item-spend').textContent()).toMatch(new RegExp(`Spent \\$[0-9.e-]+ on 2 model calls · ${escape(tokens)}`));
  const rows = page.getByRole('table', { name: 'Model calls of the attempt' }).locator('tbody tr');
  await expect.poll(() => rows.count()).toBe(2);
  expect(await rows.nth(0).locator('td').allTextContents()).toEqual([
    expect.any(String),
    'gpt-4o-mini',
    'success (200)',
    '1200 / 300 / 800',
    expect.stringMatching(/^\$/),
    expect.stringMatching(/ms$|^$/),
    expect.stringMatching(/ ms$/),
  ]);
  expect(await rows.nth(1).locator('td').nth(3).textContent()).toBe('1500 / 40 / 0');
  await screenshot(page, 'run-spend', { docs: 'dashboard-spend.png' });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

test('a run awaiting a budget raise says what it spent of which budget, and the raise in its form lets it finish', async () => {
  const { base, api, operatorToken } = await start(
    {
      chat: [
        { toolCalls: [{ name: 'write_file', input: { path: 'notes.md', content: 'from the model\n' } }], usage: { inputTokens: 900, outputTokens: 300 } },
        { text: 'Done.', usage: { inputTokens: 20, outputTokens: 5 } },
        { text: 'Done.', usage: { inputTokens: 20, outputTokens: 5 } },
      ],
    },
    { provider: 'openai', providerKey: 'sk-provider-dashboard', runtimes: { 'openai-compatible': { baseUrl: 'http://127.0.0.1:9/v1', maxRetries: 0 } } },
  );
  const submitted = await api('/v1/runs', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      version: 1,
      name: 'budgeted',
      // Half a dollar, which the banner writes as money is written: $0.50.
      budget: { usd: 0.5, tokens: 1_000 },
      items: [
        { id: 'write', runtime: { kind: 'agent', adapter: 'openai-compatible', model: 'gpt-4o-mini', prompt: 'Write notes.md.' } },
        // Ready only after the budget is spent: the run holds it back, and its page says why.
        { id: 'pause', runtime: { kind: 'command', argv: ['sleep', '3'] } },
        { id: 'later', dependsOn: ['pause'], runtime: { kind: 'agent', adapter: 'openai-compatible', model: 'gpt-4o-mini', prompt: 'Say done.' } },
      ],
    }),
  });
  const { runId } = (await submitted.json()) as { runId: string };
  // The refused raise below answers 400, which Chromium logs.
  const page = await signedIn(base, operatorToken, `#/runs/${runId}`, undefined, { allowConsoleErrors: [/status of 400/] });
  const panel = page.getByRole('region', { name: 'Budget' });
  await expect.poll(() => panel.textContent(), { timeout: 30_000 }).toMatch(/This run has spent its budget of \$0\.50 and 1000 tokens \(.*1200 tokens/);
  await screenshot(page, 'run-awaiting-budget', { docs: 'dashboard-awaiting-budget.png' });
  await page.locator('svg.dag [data-item-id="later"]').click();
  const held = page.getByRole('region', { name: 'Item later' }).locator('.budget-held');
  await expect.poll(() => held.textContent(), { timeout: 30_000 }).toMatch(/^Held: the run has spent its budget, and starts no agent item until it is raised/);
  // A command item is not held back: pause ran while the run awaited its budget.
  await page.locator('svg.dag [data-item-id="pause"]').click();
  expect(await page.getByRole('region', { name: 'Item pause' }).locator('.budget-held').count()).toBe(0);
  // A raise that leaves nothing to spend is refused where it was asked.
  await panel.getByLabel('Tokens').fill('1100');
  await panel.getByLabel('Reason (kept in the audit log)').fill('a little more');
  await panel.getByRole('button', { name: 'Raise the budget' }).click();
  await expect.poll(() => panel.getByRole('alert').textContent()).toContain('has used 1200 tokens');
  await panel.getByLabel('Tokens').fill('5000');
  await panel.getByRole('button', { name: 'Raise the budget' }).click();
  await expect.poll(() => page.locator('h1 .state-badge').textContent(), { timeout: 30_000 }).toBe('succeeded');
  const raised = (await (await api(`/v1/audit?runId=${runId}&action=run.budget-raised`)).text())
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { entry: { data: unknown } }).entry.data);
  // A raise naming only tokens keeps the run's dollars.
  expect(raised).toEqual([{ budget: { usd: 0.5, tokens: 5_000 }, reason: 'a little more', state: 'running' }]);
});
