import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
