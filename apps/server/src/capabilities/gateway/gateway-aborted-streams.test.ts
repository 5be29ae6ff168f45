// A stream the agent hangs up on mid-way (ADR 0033), through a running server, for each of the
// three APIs: the provider answered and billed it, so its entry counts what the stream said (the
// input its start event reported, else the request's size; an output token for each delta that
// passed), is marked as estimated in its reason, and is charged against the item's budget.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, test } from 'vitest';
import { AttemptCredentials } from './attempt-credentials.ts';
import { gatewayServers, modelCallsOf, submitAgentRun } from './gateway-server.test-support.ts';

const start = gatewayServers();
const chatModel = 'gpt-4o-mini';
const anthropicModel = 'claude-sonnet-4-5';

/** Counts the text deltas of a server-sent-event stream as the agent reads it. */
function isTextDelta(block: string): boolean {
  if (/^event: (content_block_delta|response\.output_text\.delta)$/m.test(block)) return true;
  const data = /^data: (\{.*\})$/m.exec(block)?.[1];
  if (data === undefined || /^event:/m.test(block)) return false;
  const content = (JSON.parse(data) as { choices?: { delta?: { content?: unknown } }[] }).choices?.[0]?.delta?.content;
  return typeof content === 'string' && content.length > 0;
}

test(
  'a stream the agent leaves after 30 of 40 deltas counts what it said, estimated, against the budget (Messages, Chat, Responses)',
  { timeout: 90_000 },
  async () => {
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    // 40 deltas of text; the provider sends 30 and holds the rest (and its usage report) until the test is done.
    const answer = {
      text: 'abcdefghij'.repeat(40),
      textPieces: 40,
      holdAfterDeltas: { deltas: 30, until: held },
      usage: { inputTokens: 100, outputTokens: 400 },
    };
    const bodies = {
      anthropic: JSON.stringify({
        model: anthropicModel,
        max_tokens: 1_000,
        stream: true,
        messages: [{ role: 'user', content: 'hi' }],
        tools: [{ name: 'noop', input_schema: { type: 'object' } }],
      }),
      chat: JSON.stringify({
        model: chatModel,
        stream: true,
        messages: [{ role: 'user', content: 'hi' }],
        tools: [{ type: 'function', function: { name: 'noop', parameters: { type: 'object' } } }],
      }),
      responses: JSON.stringify({ model: chatModel, stream: true, input: 'hi', tools: [{ type: 'function', name: 'noop', parameters: { type: 'object' } }] }),
    };
    const inputEstimate = (body: string) => Math.ceil(Buffer.byteLength(body) / 4);
    // What the three calls count together: the budget, reached exactly by the third.
    const tokens = [100 + 30, inputEstimate(bodies.chat) + 30, inputEstimate(bodies.responses) + 30];
    const budget = tokens[0]! + tokens[1]! + tokens[2]!;
    try {
      const { api, composition, directory } = await start(
        { chat: [answer], anthropic: [answer], responses: [answer] },
        { provider: ['anthropic', 'openai'], providerKey: 'sk-provider-77ab', runtimes: {} },
      );
      // A running attempt the test calls for (a call of its own in flight would hold a reservation of
      // the budget); its item's budget is what the calls are charged against.
      const runId = await submitAgentRun(api, { runtime: { kind: 'command', argv: ['sleep', '60'] }, timeout: '90s', budget: { tokens: budget } });
      const executionId = `${runId}/write/1`;
      while (composition.engine.liveAttempt(executionId) === undefined) await sleep(20);
      const credentials = await AttemptCredentials.fromKeyFile(join(directory, 'cairn-data', 'gateway.key'));
      const credential = credentials.mint({ executionId, models: [chatModel, anthropicModel], expiresAt: Date.now() + 60_000 });
      const call = (path: string, body: string) =>
        fetch(`${composition.gatewayUrl!}${path}`, {
          method: 'POST',
          headers: { 'x-cairn-credential': credential, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
          body,
        });

      /** Reads 30 text deltas of the answer and hangs up; the call's entry once it is recorded. */
      const readAndLeave = async (path: string, body: string) => {
        const before = modelCallsOf(composition, runId).length;
        const response = await call(path, body);
        expect(response.status).toBe(200);
        const reader = response.body!.getReader();
        const decoder = new TextDecoder();
        let text = '';
        let deltas = 0;
        while (deltas < 30) {
          const { value, done } = await reader.read();
          expect(done).toBe(false);
          text += decoder.decode(value, { stream: true });
          const blocks = text.split('\n\n');
          text = blocks.pop()!;
          deltas += blocks.filter(isTextDelta).length;
        }
        expect(deltas).toBe(30);
        await reader.cancel();
        while (modelCallsOf(composition, runId).length === before) await sleep(20);
        return modelCallsOf(composition, runId).at(-1)!;
      };

      const entries = [
        await readAndLeave('/anthropic/v1/messages', bodies.anthropic),
        await readAndLeave('/openai/v1/chat/completions', bodies.chat),
        await readAndLeave('/openai/v1/responses', bodies.responses),
      ];
      expect(entries.map((entry) => [entry.data['api'], entry.outcome, entry.data['inputTokens'], entry.data['outputTokens']])).toEqual([
        ['anthropic-messages', 'failure', 100, 30],
        ['openai-chat', 'failure', inputEstimate(bodies.chat), 30],
        ['openai-responses', 'failure', inputEstimate(bodies.responses), 30],
      ]);
      for (const entry of entries) {
        expect(entry.data['reason']).toContain('usage estimated');
        expect(entry.data['reason']).toContain('30 output tokens from the 30 content deltas that passed');
        expect(entry.data['costUsd']).toBeGreaterThan(0);
      }
      expect(entries[0]!.data['reason']).toContain("100 input tokens as the stream's start reported them");

      // Charged: the item's spend is the three estimates, which is its whole budget, so its next call is refused.
      const { spend } = (await (await api(`/v1/runs/${runId}`)).json()) as { spend: { items: Record<string, { inputTokens: number; outputTokens: number }> } };
      expect(spend.items['write']!.inputTokens + spend.items['write']!.outputTokens).toBe(budget);
      const refused = await call('/openai/v1/chat/completions', JSON.stringify({ model: chatModel, messages: [{ role: 'user', content: 'hi' }] }));
      expect([refused.status, refused.headers.get('x-cairn-error')]).toEqual([402, 'CAIRN_BUDGET_EXCEEDED']);
      expect(await refused.text()).toContain(`${budget} tokens of its budget of ${budget}`);
    } finally {
      release();
    }
  },
);
