// A run's and its items' priority through the HTTP API, as a client reads them: GET /v1/runs,
// /v1/runs/{runId} and its items, over a real composition on a loopback port.
import { createCairnClient } from '@cairn/client';
import { expect, test } from 'vitest';
import { runningServers } from './running-server.test-support.ts';

const serve = runningServers();

test("the run's priority and each item's, its own or the run's, in the run, the run list and the items", { timeout: 30_000 }, async () => {
  const { base, operatorToken } = await serve();
  const client = createCairnClient({ baseUrl: base, token: operatorToken });
  // The items wait for an approval: nothing runs, the test reads what was submitted.
  const waiting = { runtime: { kind: 'command' as const, argv: ['/bin/true'] }, approval: 'required' as const };
  const { runId } = await client.submit({
    version: 1,
    name: 'prioritised',
    priority: 4,
    items: [
      { id: 'inherits', ...waiting },
      { id: 'urgent', ...waiting, priority: 5 },
      { id: 'later', ...waiting, priority: 1 },
    ],
  });
  const plain = (await client.submit({ version: 1, name: 'plain', items: [{ id: 'only', ...waiting }] })).runId;

  expect((await client.run(runId)).priority).toBe(4);
  expect((await client.items(runId)).map(({ itemId, priority }) => [itemId, priority])).toEqual([
    ['inherits', 4],
    ['urgent', 5],
    ['later', 1],
  ]);
  expect(Object.fromEntries((await client.runs()).runs.map((run) => [run.runId, run.priority]))).toEqual({ [runId]: 4, [plain]: 3 });
  // Refused at its JSON path, with nothing stored.
  await expect(client.submit({ version: 1, name: 'too-high', priority: 6 as 5, items: [{ id: 'a', ...waiting }] })).rejects.toMatchObject({
    code: 'CAIRN_RUN_SPEC_INVALID',
    path: '$.priority',
  });
  for (const id of [runId, plain]) await client.cancel(id);
});
