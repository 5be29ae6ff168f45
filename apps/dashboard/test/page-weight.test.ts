// The dashboard's budget: at most 147 KB of gzipped JavaScript, measured on the built files the
// server ships (run after `pnpm --filter @cairn/dashboard build`, as setup does), about 1 KB above
// what it weighs, so that a regression fails here before the bench's 150 KB goal is missed. It had
// grown to 168 KB with @cairn/protocol's schemas in the verifiers' chunk (which the verifiers parse
// bundles with, so they stay); it came back to 149,444 bytes when that chunk stopped carrying the
// whole `buffer` package (src/browser-node/node-buffer.ts gives the calls the verifiers make) and
// the patch diff stopped carrying Hogan's template compiler (docs/performance/dashboard-log.md).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { expect, test } from 'vitest';
import { pageWeight } from './page-weight.test-support.ts';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');

test('the built dashboard loads at most 147 KB of gzipped JavaScript, all of it from index.html', () => {
  const weight = pageWeight(dist);
  expect(weight.javascriptFiles.length).toBeGreaterThan(0);
  expect(weight.gzippedJavascriptBytes).toBeLessThanOrEqual(147 * 1024);
  // Every script the page needs is one index.html names (no script loaded from elsewhere).
  const html = readFileSync(join(dist, 'index.html'), 'utf8');
  for (const match of html.matchAll(/<script[^>]*src="([^"]+)"/g)) expect(match[1]).toMatch(/^\/dashboard\/assets\//);
});

test('the measure counts every JavaScript file, gzipped', () => {
  const assets = join(dist, 'assets');
  const expected = readdirSync(assets)
    .filter((name) => name.endsWith('.js'))
    .reduce((sum, name) => sum + gzipSync(readFileSync(join(assets, name)), { level: 9 }).byteLength, 0);
  expect(pageWeight(dist).gzippedJavascriptBytes).toBe(expected);
});
