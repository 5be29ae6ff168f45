import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CairnError } from '@cairn/protocol';
import { afterEach, expect, test } from 'vitest';
import { SeenDeliveries } from './seen-deliveries.ts';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

test('a delivery id is claimed once, across a reopening; a released one again; a week-old one expires', () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-seen-'));
  directories.push(directory);
  const file = join(directory, 'triggers.db');
  const now = Date.parse('2026-11-27T10:00:00Z');
  const seen = new SeenDeliveries(file);
  expect(seen.claim('72d3162e-cc78-11e3-81ab-4c9367dc0958', now)).toBe(true);
  expect(seen.claim('72d3162e-cc78-11e3-81ab-4c9367dc0958', now)).toBe(false);
  expect(seen.claim('retry-me', now)).toBe(true);
  seen.release('retry-me');
  seen.close();
  const reopened = new SeenDeliveries(file);
  expect(reopened.claim('72d3162e-cc78-11e3-81ab-4c9367dc0958', now + 3_600_000)).toBe(false);
  expect(reopened.claim('retry-me', now)).toBe(true);
  // Eight days on, claiming another id expires the old ones.
  expect(reopened.claim('later', now + 8 * 86_400_000)).toBe(true);
  expect(reopened.claim('72d3162e-cc78-11e3-81ab-4c9367dc0958', now + 8 * 86_400_000)).toBe(true);
  reopened.close();
});

test('handleOnce: a replay gets nothing; a refusal keeps the claim, a failure on this side releases it for the redelivery', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-seen-'));
  directories.push(directory);
  const seen = new SeenDeliveries(join(directory, 'triggers.db'));
  expect(await seen.handleOnce('webhooks/alerts:msg_1', async () => 'ran')).toBe('ran');
  expect(await seen.handleOnce('webhooks/alerts:msg_1', async () => 'ran again')).toBeUndefined();
  const refused = new CairnError('CAIRN_PAYLOAD_INVALID', 'The payload lacks /data/title.');
  await expect(seen.handleOnce('webhooks/alerts:msg_2', () => Promise.reject(refused))).rejects.toBe(refused);
  expect(await seen.handleOnce('webhooks/alerts:msg_2', async () => 'ran')).toBeUndefined();
  const unavailable = new CairnError('CAIRN_SECRET_UNAVAILABLE', 'The secret cannot be opened.');
  await expect(seen.handleOnce('webhooks/alerts:msg_3', () => Promise.reject(unavailable))).rejects.toBe(unavailable);
  await expect(seen.handleOnce('webhooks/alerts:msg_4', () => Promise.reject(new Error('disk gone')))).rejects.toThrow('disk gone');
  expect(await seen.handleOnce('webhooks/alerts:msg_3', async () => 'redelivered')).toBe('redelivered');
  expect(await seen.handleOnce('webhooks/alerts:msg_4', async () => 'redelivered')).toBe('redelivered');
  seen.close();
});
