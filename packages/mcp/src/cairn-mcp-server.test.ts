import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCairnClient } from '@cairn/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { expect, test } from 'vitest';
import { buildMcpServer, mcpToolNames } from './cairn-mcp-server.ts';

test('the tools an AI client sees are exactly the repository allowlist: nothing privileged', async () => {
  const allowlist = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'tool-allowlist.json'), 'utf8')) as { tools: string[] };
  const server = buildMcpServer(createCairnClient({ baseUrl: 'http://127.0.0.1:9' }));
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  await server.connect(serverTransport);
  const client = new Client({ name: 'test', version: '1.0.0' });
  await client.connect(clientTransport);
  const names = (await client.listTools()).tools.map((tool) => tool.name).sort();
  expect(names).toEqual([...allowlist.tools].sort());
  expect(names).toEqual([...mcpToolNames].sort());
  for (const forbidden of ['audit', 'token', 'schedule', 'secret', 'approve', 'reject', 'cancel']) expect(names.join(' ')).not.toContain(forbidden);
  // A server that cannot be reached is a tool error naming the code, not a crash.
  const answer = await client.callTool({ name: 'get_run_status', arguments: { runId: 'r-1' } });
  expect(answer.isError).toBe(true);
  expect(JSON.stringify(answer.content)).toContain('CAIRN_SERVER_UNREACHABLE');
  await client.close();
});
