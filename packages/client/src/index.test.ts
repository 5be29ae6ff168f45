// The README promises that a call's error comes back "as the CairnError it was": the class, its
// codes and isCairnError are importable from @cairn/client itself (no second dependency).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { CairnError, createCairnClient, errorCodes, isCairnError, type CairnErrorCode } from '@cairn/client';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

test('@cairn/client exports CairnError, isCairnError and the error codes', () => {
  expect(typeof CairnError).toBe('function');
  expect(typeof isCairnError).toBe('function');
  const code: CairnErrorCode = 'CAIRN_NOT_FOUND';
  expect(errorCodes).toContain(code);
});

test("a server's error answer is thrown as the exported CairnError with its code, path and advice", async () => {
  const server = createServer((_request, response) => {
    response.writeHead(404, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ code: 'CAIRN_NOT_FOUND', message: 'No run r-404.', path: 'runId', action: 'List runs with `cairn runs`.' }));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const cairn = createCairnClient({ baseUrl: `http://127.0.0.1:${port}` });
  const error = await cairn.run('r-404').catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(CairnError);
  expect(isCairnError(error, 'CAIRN_NOT_FOUND')).toBe(true);
  expect((error as CairnError).path).toBe('runId');
  expect((error as CairnError).message).toContain('No run r-404.');
  expect((error as CairnError).action).toBe('List runs with `cairn runs`.');
});
