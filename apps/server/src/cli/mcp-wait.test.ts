// wait_for_run against a real server: each call answers within its bound whatever the run does
// (a run held by an approval never ends by itself), says why it is not done, and its progress
// notifications only grow, ending at the item count.
import { createCairnClient } from '@cairn/client';
import { buildMcpServer } from '@cairn/mcp';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { Progress } from '@modelcontextprotocol/sdk/types.js';
import { expect, test } from 'vitest';
import { runningServers } from '../http/running-server.test-support.ts';

const start = runningServers();

async function connectedTo(base: string, token: string, maxWaitSeconds: number): Promise<Client> {
  const server = buildMcpServer(createCairnClient({ baseUrl: base, token }), { maxWaitSeconds });
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  await server.connect(serverTransport);
  const client = new Client({ name: 'model', version: '1.0.0' });
  await client.connect(clientTransport);
  return client;
}

test('a run waiting for approval: wait_for_run answers done: false within its bound, naming the item and what to do', { timeout: 60_000 }, async () => {
  const { base, operatorToken } = await start();
  const client = await connectedTo(base, operatorToken, 1);
  try {
    const spec = { version: 1, name: 'gated', items: [{ id: 'deploy', approval: 'required', runtime: { kind: 'command', argv: ['true'] } }] };
    const { runId } = (await client.callTool({ name: 'submit_run', arguments: { spec } })).structuredContent as { runId: string };
    const started = performance.now();
    // Asked for longer than the bound: the bound wins, so an MCP client's request timeout is never reached.
    const answer = await client.callTool({ name: 'wait_for_run', arguments: { runId, timeoutSeconds: 600 } });
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(answer.structuredContent).toMatchObject({ runId, done: false, itemsTotal: 1, itemsFinished: 0, awaitingApproval: ['deploy'] });
    expect((answer.structuredContent as { next: string }).next).toContain('call wait_for_run again with the same runId');
    expect((answer.structuredContent as { next: string }).next).toContain('deploy wait for a person to approve');
  } finally {
    await client.close();
  }
});

test('progress notifications grow with every item that ends and stop at the total', { timeout: 60_000 }, async () => {
  const { base, operatorToken } = await start();
  const client = await connectedTo(base, operatorToken, 30);
  try {
    const step = (id: string, after?: string) => ({
      id,
      runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'sleep 0.3'] },
      ...(after ? { dependsOn: [after] } : {}),
    });
    const spec = { version: 1, name: 'chain', items: [step('one'), step('two', 'one'), step('three', 'two')] };
    const { runId } = (await client.callTool({ name: 'submit_run', arguments: { spec } })).structuredContent as { runId: string };
    const progress: Progress[] = [];
    const answer = await client.callTool({ name: 'wait_for_run', arguments: { runId } }, undefined, { onprogress: (update) => progress.push(update) });
    expect(answer.structuredContent).toMatchObject({ runId, done: true, state: 'succeeded', itemsFinished: 3 });
    expect(answer.structuredContent).not.toHaveProperty('next');
    const values = progress.map((update) => update.progress);
    expect(values.at(-1)).toBe(3);
    expect(values.length).toBeGreaterThanOrEqual(2);
    for (let index = 1; index < values.length; index += 1) expect(values[index]).toBeGreaterThan(values[index - 1]!);
    for (const update of progress) expect(update).toMatchObject({ total: 3, message: expect.stringContaining('of 3 items ended') });
  } finally {
    await client.close();
  }
});
