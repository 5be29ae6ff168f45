// Both webhook stores (SQLite's webhooks.db and the engine's PostgreSQL database) record a batch of
// events in one transaction: each endpoint gets exactly the events after it was made that it asked
// for, the cursor moves past the last, and a batch that fails records nothing and leaves the cursor
// where it was (so the dispatcher reads it again).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CairnEvent } from '@cairn/core';
import { afterEach, describe, expect, test } from 'vitest';
import { createTestDatabase } from '../../../../../packages/engine/src/store/postgres/postgres.test-support.ts';
import { ServerPostgres } from '../../store/postgres/server-postgres.ts';
import { PostgresWebhookStore } from './store/postgres-webhook-store.ts';
import { SqliteWebhookStore } from './store/sqlite-webhook-store.ts';
import type { WebhookStore } from './webhook-store.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const stores: Record<string, () => Promise<WebhookStore>> = {
  sqlite: async () => {
    const directory = mkdtempSync(join(tmpdir(), 'cairn-webhook-store-'));
    cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
    return new SqliteWebhookStore(join(directory, 'webhooks.db'));
  },
  postgres: async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const connections = await ServerPostgres.open(database.settings);
    cleanups.push(() => connections.close());
    return new PostgresWebhookStore(connections);
  },
};

const event = (id: number, type: 'run.state' | 'item.state', runId = 'r-1'): CairnEvent =>
  type === 'run.state'
    ? { id, type, time: '2026-11-23T00:00:00.000Z', runId, state: 'running' }
    : { id, type, time: '2026-11-23T00:00:00.000Z', runId, itemId: 'a', state: 'running' };
const endpoint = (webhookId: string, events: string[] | null, runId: string | null) => ({
  webhookId,
  url: 'https://example.com/hook',
  events,
  runId,
  description: null,
  createdAt: '2026-11-23T00:00:00.000Z',
  createdBy: 'operator',
});

describe.each(Object.keys(stores))('the %s webhook store', (kind) => {
  const store = stores[kind]!;

  test('a batch: each endpoint gets the events after it was made that it asked for; the cursor passes the last', async () => {
    const webhooks = await store();
    await webhooks.initializeCursor(-1);
    await webhooks.addEndpoint(endpoint('wh_all', null, null), '{}', -1);
    await webhooks.addEndpoint(endpoint('wh_late_runs', ['run.state'], null), '{}', 1);
    await webhooks.addEndpoint(endpoint('wh_other_run', null, 'r-2'), '{}', -1);
    const batch = [event(0, 'run.state'), event(1, 'item.state'), event(2, 'run.state'), event(3, 'item.state', 'r-2')];
    expect(await webhooks.recordEvents(batch, 1_000)).toBe(4 + 1 + 1);
    expect((await webhooks.deliveries('wh_all')).map((delivery) => delivery.eventId)).toEqual([0, 1, 2, 3]);
    expect((await webhooks.deliveries('wh_late_runs')).map((delivery) => delivery.eventId)).toEqual([2]);
    expect((await webhooks.deliveries('wh_other_run')).map((delivery) => delivery.eventId)).toEqual([3]);
    expect(await webhooks.cursor()).toBe(3);
    expect(await webhooks.recordEvents([], 1_000)).toBe(0);
    expect(await webhooks.cursor()).toBe(3);
    await webhooks.close();
  });

  test('the cursor skips ahead only while no enabled endpoint exists, and never back', async () => {
    const webhooks = await store();
    await webhooks.initializeCursor(-1);
    expect(await webhooks.skipWhenNoEndpoints(9)).toBe(true);
    expect(await webhooks.cursor()).toBe(9);
    expect(await webhooks.skipWhenNoEndpoints(4)).toBe(true);
    expect(await webhooks.cursor()).toBe(9);
    await webhooks.addEndpoint(endpoint('wh_all', null, null), '{}', 9);
    expect(await webhooks.skipWhenNoEndpoints(20)).toBe(false);
    expect(await webhooks.cursor()).toBe(9);
    // A disabled endpoint is sent nothing: the events are nobody's again.
    await webhooks.disableEndpoint('wh_all', 'the endpoint answered 410 Gone', 1_000);
    expect(await webhooks.skipWhenNoEndpoints(20)).toBe(true);
    expect(await webhooks.cursor()).toBe(20);
    await webhooks.close();
  });

  test('a batch that fails records none of its deliveries and leaves the cursor where it was', async () => {
    const webhooks = await store();
    await webhooks.initializeCursor(-1);
    await webhooks.addEndpoint(endpoint('wh_all', null, null), '{}', -1);
    // The second event's body cannot be written as JSON: the batch fails part way.
    const unwritable = { ...event(1, 'run.state'), state: 1n } as unknown as CairnEvent;
    await expect(webhooks.recordEvents([event(0, 'run.state'), unwritable], 1_000)).rejects.toThrow(/BigInt/);
    expect(await webhooks.deliveries('wh_all')).toEqual([]);
    expect(await webhooks.cursor()).toBe(-1);
    await webhooks.close();
  });

  test('events recorded twice (two dispatchers overlapping at a change of leader) enqueue each delivery once; the cursor never moves back', async () => {
    const webhooks = await store();
    await webhooks.initializeCursor(-1);
    await webhooks.addEndpoint(endpoint('wh_all', null, null), '{}', -1);
    expect(await webhooks.recordEvents([event(0, 'run.state'), event(1, 'item.state'), event(2, 'run.state')], 1_000)).toBe(3);
    // The other one read less of the stream: what it enqueues is there already, its cursor is behind.
    expect(await webhooks.recordEvents([event(0, 'run.state'), event(1, 'item.state')], 1_000)).toBe(0);
    expect(await webhooks.cursor()).toBe(2);
    expect((await webhooks.deliveries('wh_all')).map((delivery) => delivery.eventId)).toEqual([0, 1, 2]);
    await webhooks.initializeCursor(-1);
    expect(await webhooks.cursor()).toBe(2);
  });

  test('due deliveries, oldest first, but those in flight; an attempt retried, delivered or failed; a disabled endpoint fails what it had pending', async () => {
    const webhooks = await store();
    await webhooks.initializeCursor(-1);
    await webhooks.addEndpoint(endpoint('wh_a', null, null), '{}', -1);
    await webhooks.addEndpoint(endpoint('wh_b', null, null), '{}', -1);
    await webhooks.recordEvents([event(0, 'run.state'), event(1, 'item.state')], 1_000);
    expect(await webhooks.due(999, 10)).toEqual([]);
    const due = await webhooks.due(1_000, 10);
    expect(due.map((delivery) => [delivery.webhookId, JSON.parse(delivery.body).data.id, delivery.attempts, delivery.url])).toEqual(
      expect.arrayContaining([
        ['wh_a', 0, 0, 'https://example.com/hook'],
        ['wh_b', 0, 0, 'https://example.com/hook'],
        ['wh_a', 1, 0, 'https://example.com/hook'],
        ['wh_b', 1, 0, 'https://example.com/hook'],
      ]),
    );
    expect(due.map((delivery) => JSON.parse(delivery.body).data.id)).toEqual([0, 0, 1, 1]);
    expect(await webhooks.due(1_000, 1)).toHaveLength(1);
    const [first, second] = due.filter((delivery) => delivery.webhookId === 'wh_a');
    expect((await webhooks.due(1_000, 10, [first!.deliveryId])).map((delivery) => delivery.deliveryId)).not.toContain(first!.deliveryId);
    expect(await webhooks.nextDueAt()).toBe(1_000);
    await webhooks.recordAttempt(first!.deliveryId, { delivered: false, statusCode: 500, error: 'the endpoint answered 500', retryAt: 5_000 }, 1_100);
    await webhooks.recordAttempt(second!.deliveryId, { delivered: true, statusCode: 204, error: null, retryAt: null }, 1_200);
    expect(await webhooks.nextDueAt(due.filter((delivery) => delivery.webhookId === 'wh_b').map((delivery) => delivery.deliveryId))).toBe(5_000);
    expect(await webhooks.deliveries('wh_a')).toEqual([
      expect.objectContaining({
        eventId: 0,
        status: 'pending',
        attempts: 1,
        lastStatusCode: 500,
        lastError: 'the endpoint answered 500',
        nextAttemptAt: new Date(5_000).toISOString(),
      }),
      expect.objectContaining({ eventId: 1, status: 'succeeded', attempts: 1, lastStatusCode: 204, lastError: null, nextAttemptAt: null }),
    ]);
    expect(await webhooks.disableEndpoint('wh_b', 'the endpoint answered 410 Gone', 2_000)).toBe(true);
    // A second 410 (another delivery in flight) finds it disabled: it keeps the first time and reason.
    expect(await webhooks.disableEndpoint('wh_b', 'a later answer', 3_000)).toBe(false);
    expect(await webhooks.endpoint('wh_b')).toMatchObject({ disabledAt: new Date(2_000).toISOString(), disabledReason: 'the endpoint answered 410 Gone' });
    expect((await webhooks.deliveries('wh_b')).map((delivery) => delivery.status)).toEqual(['failed', 'failed']);
    expect((await webhooks.due(10_000, 10)).map((delivery) => delivery.webhookId)).toEqual(['wh_a']);
    expect(await webhooks.secretEnvelope('wh_a')).toBe('{}');
    expect((await webhooks.endpoints()).map((listed) => listed.webhookId).sort()).toEqual(['wh_a', 'wh_b']);
    expect(await webhooks.removeEndpoint('wh_a')).toBe(true);
    expect(await webhooks.removeEndpoint('wh_a')).toBe(false);
    expect(await webhooks.deliveries('wh_a')).toEqual([]);
    expect(await webhooks.endpoint('wh_a')).toBeUndefined();
  });

  test('attempts under way when their endpoint is disabled record what happened: an answer over "not sent", and a retry becomes a failure saying why', async () => {
    const webhooks = await store();
    await webhooks.initializeCursor(-1);
    await webhooks.addEndpoint(endpoint('wh_gone', null, null), '{}', -1);
    await webhooks.recordEvents([event(0, 'run.state'), event(1, 'item.state'), event(2, 'item.state'), event(3, 'item.state')], 1_000);
    // One sent before and to be retried; then it and two more are sent at once, and the first
    // answers 410, which disables the endpoint and fails what is pending.
    const [gone, answered, erred, unsent] = await webhooks.due(1_000, 10);
    await webhooks.recordAttempt(erred!.deliveryId, { delivered: false, statusCode: 503, error: 'the endpoint answered 503', retryAt: 1_000 }, 1_000);
    await webhooks.recordAttempt(gone!.deliveryId, { delivered: false, statusCode: 410, error: 'the endpoint answered 410 Gone', retryAt: null }, 1_100);
    expect(await webhooks.disableEndpoint('wh_gone', 'the endpoint answered 410 Gone', 1_100)).toBe(true);
    // The other two answer after the disable: one delivered, one to be retried.
    await webhooks.recordAttempt(answered!.deliveryId, { delivered: true, statusCode: 204, error: null, retryAt: null }, 1_200);
    await webhooks.recordAttempt(erred!.deliveryId, { delivered: false, statusCode: 500, error: 'the endpoint answered 500', retryAt: 9_000 }, 1_300);
    const byId = new Map((await webhooks.deliveries('wh_gone')).map((delivery) => [delivery.deliveryId, delivery]));
    expect(byId.get(gone!.deliveryId)).toMatchObject({ status: 'failed', attempts: 1, lastStatusCode: 410, lastError: 'the endpoint answered 410 Gone' });
    expect(byId.get(answered!.deliveryId)).toMatchObject({ status: 'succeeded', attempts: 1, lastStatusCode: 204, lastError: null });
    expect(byId.get(erred!.deliveryId)).toMatchObject({
      status: 'failed',
      attempts: 2,
      lastStatusCode: 500,
      lastError: 'the endpoint answered 500; not retried: the endpoint was disabled',
      nextAttemptAt: null,
    });
    expect(byId.get(unsent!.deliveryId)).toMatchObject({
      status: 'failed',
      attempts: 0,
      lastStatusCode: null,
      lastError: 'not sent: the endpoint was disabled (the endpoint answered 410 Gone)',
    });
    // An outcome recorded twice (a sender's retry of the write) does not count a second attempt.
    await webhooks.recordAttempt(answered!.deliveryId, { delivered: true, statusCode: 204, error: null, retryAt: null }, 1_400);
    expect((await webhooks.deliveries('wh_gone')).find((delivery) => delivery.deliveryId === answered!.deliveryId)?.attempts).toBe(1);
  });
});
