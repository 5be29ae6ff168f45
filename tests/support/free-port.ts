import { createServer } from 'node:net';

/**
 * A loopback port free right now, for a test that runs `cairn serve` as the docs write it (port
 * 7600) next to other tests doing the same: the test passes it as CAIRN_PORT, the environment
 * override that `serve` and the client commands both read.
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
