// A server on PostgreSQL whose database goes away (every connection cut, new ones cut as they are
// accepted, through a TCP relay in front of the test cluster): `/readyz` answers 503 with the
// reason, never a 500, and 200 again once the database is back.
import { createServer, type Socket, connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { createTestDatabase } from '../../../../packages/engine/src/store/postgres/postgres.test-support.ts';
import { runningServers } from './running-server.test-support.ts';

// Registered before the server's: it closes first, then the relay and the database go.
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});
const start = runningServers();

/** A TCP relay to `host:port` that can be "down": open connections cut, new ones cut on arrival. */
async function relayTo(host: string, port: number) {
  let down = false;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    if (down) return socket.destroy();
    const upstream = connect(port, host);
    sockets.add(socket).add(upstream);
    const end = () => {
      socket.destroy();
      upstream.destroy();
      sockets.delete(socket);
      sockets.delete(upstream);
    };
    socket.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    socket.pipe(upstream).pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    setDown(value: boolean) {
      down = value;
      if (down) for (const socket of sockets) socket.destroy();
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

test('PostgreSQL down: /readyz answers 503 "state unavailable: …", never 500, and 200 once it is back', { timeout: 120_000 }, async () => {
  const database = await createTestDatabase();
  cleanups.push(() => database.drop());
  const relay = await relayTo(database.settings.host, database.settings.port);
  cleanups.push(() => relay.close());
  const { base } = await start('tokens', { config: { engine: { state: { ...database.settings, host: '127.0.0.1', port: relay.port } } } });
  const readiness = async () => {
    const response = await fetch(`${base}/readyz`);
    return { status: response.status, body: (await response.json()) as { ready: boolean; reason?: string; since?: string; auditEntries?: number } };
  };
  await expect.poll(async () => (await readiness()).status, { timeout: 30_000, interval: 100 }).toBe(200);

  relay.setDown(true);
  const answers: Awaited<ReturnType<typeof readiness>>[] = [];
  // Asked until one answer says why it is not ready; every answer meanwhile is 200 or 503.
  for (let probe = 0; probe < 200 && !answers.some((answer) => answer.status === 503 && answer.body.reason !== undefined); probe++) {
    answers.push(await readiness());
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  expect(answers.map((answer) => answer.status).filter((status) => status !== 200 && status !== 503)).toEqual([]);
  const notReady = answers.find((answer) => answer.status === 503)!;
  expect(notReady.body).toMatchObject({ ready: false, reason: expect.stringMatching(/unavailable/) });
  expect(notReady.body.since).toBeDefined();
  console.info(`readiness with PostgreSQL down: ${JSON.stringify(notReady.body)}`);

  relay.setDown(false);
  await expect.poll(async () => (await readiness()).status, { timeout: 60_000, interval: 200 }).toBe(200);
});
