// The dashboard as a browser gets it from the built server: the weight of its JavaScript
// (gzipped, against its 150 KB budget), and how long a large run's page takes in Debian's
// Chromium from navigation until every item shows its state — 1,000 items (listed: too many to
// draw) and 300 (laid out with dagre and drawn). Items wait behind one awaiting approval, so
// nothing runs while the page is measured.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { buildHttpApi, composeServer, initServer, loadServerConfig } from '@cairn/server';
import { chromium } from 'playwright-core';
import { atMost, recorded, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

const chromiumPath = '/usr/lib/chromium/chromium';

function gatedRun(count: number) {
  const runtime = { kind: 'command' as const, argv: ['true'] };
  return {
    version: 1,
    name: `bench-dashboard-${count}`,
    items: [
      { id: 'gate', approval: 'required', runtime },
      ...Array.from({ length: count - 1 }, (_, index) => ({ id: `step-${index}`, dependsOn: ['gate'], runtime })),
    ],
  };
}

export default async function dashboardBenchmarks({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  // What the published server ships: dist/dashboard beside its entry.
  const assets = join(dirname(fileURLToPath(import.meta.resolve('@cairn/server'))), 'dashboard', 'assets');
  const scripts = readdirSync(assets).filter((name) => name.endsWith('.js'));
  const gzipped = scripts.reduce((sum, name) => sum + gzipSync(readFileSync(join(assets, name)), { level: 9 }).byteLength, 0);

  const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-dashboard-'));
  const { configFile, operatorToken } = await initServer(directory);
  const loaded = loadServerConfig({ file: configFile, env: {} });
  const composition = await composeServer(loaded);
  const app = await buildHttpApi({ composition, host: '127.0.0.1', auth: 'tokens' });
  composition.engine.start();
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    /** Milliseconds from navigation to every item of a `count`-item run showing its state (best of 3). */
    const pageTime = async (count: number, selector: string): Promise<number> => {
      const submitted = await fetch(`${base}/v1/runs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(gatedRun(count)),
      });
      const { runId } = (await submitted.json()) as { runId: string };
      let best = Number.POSITIVE_INFINITY;
      for (let round = 0; round < 3; round++) {
        const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
        // Signed in as a tab is after sign-in: the token in its sessionStorage.
        await context.addInitScript((token) => sessionStorage.setItem('cairn.token', token), operatorToken);
        const page = await context.newPage();
        const started = performance.now();
        await page.goto(`${base}/dashboard/#/runs/${runId}`);
        // The last item shown means all of them are (the page renders the run in one pass).
        await page
          .locator(selector)
          .nth(count - 1)
          .waitFor({ timeout: 60_000 });
        if ((await page.locator(selector).count()) !== count) throw new Error(`the page shows ${await page.locator(selector).count()} items of ${count}`);
        best = Math.min(best, performance.now() - started);
        await context.close();
      }
      log(`  ${count} items: ${Math.round(best)} ms`);
      return best;
    };
    const listed = await pageTime(1_000, 'table.items tbody tr');
    const drawn = await pageTime(300, 'svg.dag .dag-item');
    return [
      atMost('dashboard.page-weight.gzipped-js', Math.round(gzipped / 1024), 'KB', 150),
      atMost('dashboard.run-1000-items.page-ms', Math.round(listed), 'ms', 1_000),
      recorded('dashboard.run-300-items.graph-ms', Math.round(drawn), 'ms'),
    ];
  } finally {
    await browser.close();
    await app.close();
    await composition.close();
    rmSync(directory, { recursive: true, force: true });
  }
}
