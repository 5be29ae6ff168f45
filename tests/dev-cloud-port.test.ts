// The dev cloud's server config (scripts/dev-cloud.sh up, config) names port 7600 only when it is
// free: a reader who still runs the getting-started server there gets the next free port, and a
// note saying why, not a config whose `cairn serve` fails on EADDRINUSE.
import { createServer, type Server } from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { freePort } from './support/free-port.ts';

// A plain ES module beside the scripts (dev-cloud.mjs imports it), without declarations.
const { portIsFree: isFree, serverPort: choose } = (await import(new URL('../scripts/dev-cloud-port.mjs', import.meta.url).href)) as {
  portIsFree(port: number): Promise<boolean>;
  serverPort(preferred?: number): Promise<{ port: number; note?: string }>;
};

const holders: Server[] = [];
afterEach(async () => {
  await Promise.all(holders.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

async function hold(port: number): Promise<void> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  holders.push(server);
}

test('a free preferred port is the server port, without a note', async () => {
  const port = await freePort();
  expect(await choose(port)).toEqual({ port });
});

test('a taken preferred port (another server listens there) gives the next free one, and a note naming both', async () => {
  const taken = await freePort();
  await hold(taken);
  expect(await isFree(taken)).toBe(false);
  const chosen = await choose(taken);
  expect(chosen.port).toBeGreaterThan(taken);
  expect(await isFree(chosen.port)).toBe(true);
  expect(chosen.note).toContain(`port ${taken} is taken on 127.0.0.1`);
  expect(chosen.note).toContain(`listens on ${chosen.port}`);
});
