// The store records a batch of events in one transaction: each endpoint gets exactly the events
// after it was made that it asked for, the cursor moves past the last, and a batch that fails
// records nothing and leaves the cursor where it was (so the dispatcher reads it again).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CairnEvent } from '@cairn/core';
import { afterEach, expect, test } from 'vitest';
import { WebhookStore } from './webhook-store.ts';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function store(): WebhookStore {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-webhook-store-'));
  directories.push(directory);
  return new WebhookStore(join(directory, 'webhooks.db'));
}

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

test('a batch: each endpoint gets the events after it was made that it asked for; the cursor passes the last', () => {
  const webhooks = store();
  webhooks.initializeCursor(-1);
  webhooks.addEndpoint(endpoint('wh_all', null, null), '{}', -1);
  webhooks.addEndpoint(endpoint('wh_late_runs', ['run.state'], null), '{}', 1);
  webhooks.addEndpoint(endpoint('wh_other_run', null, 'r-2'), '{}', -1);
  const batch = [event(0, 'run.state'), event(1, 'item.state'), event(2, 'run.state'), event(3, 'item.state', 'r-2')];
  expect(webhooks.recordEvents(batch, 1_000)).toBe(4 + 1 + 1);
  expect(webhooks.deliveries('wh_all').map((delivery) => delivery.eventId)).toEqual([0, 1, 2, 3]);
  expect(webhooks.deliveries('wh_late_runs').map((delivery) => delivery.eventId)).toEqual([2]);
  expect(webhooks.deliveries('wh_other_run').map((delivery) => delivery.eventId)).toEqual([3]);
  expect(webhooks.cursor()).toBe(3);
  expect(webhooks.recordEvents([], 1_000)).toBe(0);
  expect(webhooks.cursor()).toBe(3);
  webhooks.close();
});

test('a batch that fails records none of its deliveries and leaves the cursor where it was', () => {
  const webhooks = store();
  webhooks.initializeCursor(-1);
  webhooks.addEndpoint(endpoint('wh_all', null, null), '{}', -1);
  // The second event's body cannot be written as JSON: the batch fails part way.
  const unwritable = { ...event(1, 'run.state'), state: 1n } as unknown as CairnEvent;
  expect(() => webhooks.recordEvents([event(0, 'run.state'), unwritable], 1_000)).toThrow(/BigInt/);
  expect(webhooks.deliveries('wh_all')).toEqual([]);
  expect(webhooks.cursor()).toBe(-1);
  webhooks.close();
});
