// A failed item's page, and a best-of-N item's, in Debian's Chromium against one real server:
// "Re-run from here" says what a new run will reuse and run again before it submits it, and the
// engine does just that (a pure item upstream reused, audited as item.reused); a best-of-N item
// shows its candidates side by side with their checks, scores, check output and diffs, and which
// won and why — at 1400 px in columns, at 800 px too, and neither page scrolls sideways.
import { beforeAll, expect, test } from 'vitest';
import { browserPages } from './browser-pages.test-support.ts';
import { expectNoSidewaysScroll } from './page-overflow.test-support.ts';
import { runEnds, sharedServer, type SharedServer } from './shared-server.test-support.ts';
import { runReaches, shell, submitRun } from './submit-run.test-support.ts';

const start = sharedServer();
const { signedIn, screenshot } = browserPages();
let server: SharedServer;
let failedRun: string;
let bestOfRun: string;

// The check passes an answer of 4 and says what it found; candidate 1 answers 5, candidates 2 and 3
// answer 4, 2 with a longer patch: smallest-diff picks 3.
const check = 'read a < answer.txt; [ "$a" = 4 ] || { echo "answer.txt says $a"; exit 1; }; echo "answer.txt says 4"';

beforeAll(async () => {
  server = await start();
  failedRun = await submitRun(server.api, {
    version: 1,
    name: 'flaky-build',
    items: [
      shell('prepare', 'echo ready > prepared.txt', { effect: 'pure' }),
      shell('lint', 'true'),
      shell('flaky', 'echo "the test broke" >&2; exit 3', { dependsOn: ['prepare', 'lint'] }),
    ],
  });
  bestOfRun = await submitRun(server.api, {
    version: 1,
    name: 'best-of-three',
    items: [
      {
        id: 'answer',
        runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'true'] },
        candidates: {
          count: 3,
          vary: [
            { argv: ['/bin/sh', '-c', 'echo 5 > answer.txt'] },
            { argv: ['/bin/sh', '-c', "printf '4\\n# the answer, worked out at some length\\n' > answer.txt"] },
            { argv: ['/bin/sh', '-c', 'echo 4 > answer.txt'] },
          ],
        },
        select: { check: { argv: ['/bin/sh', '-c', check], timeout: '1m' }, order: 'smallest-diff' },
      },
    ],
  });
  await runEnds(server.api, failedRun);
  await runEnds(server.api, bestOfRun);
});

test('a failed item re-runs as a new run after a confirmation that names what is reused and what runs again', async () => {
  const { base, api, operatorToken } = server;
  const page = await signedIn(base, operatorToken, `#/runs/${failedRun}/items/flaky`);
  const panel = page.getByRole('region', { name: 'Item flaky' });
  await panel.getByRole('button', { name: 'Re-run from here…' }).click();
  const confirm = panel.getByRole('group', { name: 'Re-run from flaky' });
  expect(await confirm.locator('.rerun-reused').textContent()).toBe(
    'Reused, not run, when their inputs are unchanged (they are pure and succeeded here): prepare.',
  );
  expect(await confirm.locator('.rerun-again').textContent()).toBe(
    'Run again before it (not pure, so their results are not reused, or they did not succeed): lint.',
  );
  for (const width of [800, 1400]) {
    await page.setViewportSize({ width, height: 900 });
    await expectNoSidewaysScroll(page);
  }
  await screenshot(page, 'rerun-from-item', { docs: 'dashboard-rerun-from-item.png' });
  // Keeping the run only asks nothing of the server.
  await confirm.getByRole('button', { name: 'Keep this run only' }).click();
  expect(await panel.getByRole('button', { name: 'Re-run from here…' }).count()).toBe(1);
  await panel.getByRole('button', { name: 'Re-run from here…' }).click();
  await confirm.getByRole('button', { name: 'Submit the new run' }).click();
  // The new run opens at the same item.
  await expect.poll(() => page.url()).not.toContain(failedRun);
  const newRun = /#\/runs\/([^/]+)\/items\/flaky$/.exec(page.url())![1]!;
  await runReaches(api, newRun);
  // The engine reused prepare's result from the failed run, and ran lint and flaky again.
  const reused = (await (await api(`/v1/audit?runId=${newRun}&action=item.reused`)).text())
    .trim()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => (JSON.parse(line) as { entry: { entity: { id: string }; data: { from: { runId: string; itemId: string } } } }).entry);
  expect(reused.map((entry) => [entry.entity.id, entry.data.from.runId, entry.data.from.itemId])).toEqual([[`${newRun}/prepare`, failedRun, 'prepare']]);
  const attempts = async (itemId: string) => ((await (await api(`/v1/runs/${newRun}/items/${itemId}/attempts`)).json()) as unknown[]).length;
  expect([await attempts('prepare'), await attempts('lint'), await attempts('flaky')]).toEqual([0, 1, 1]);
  // The reused item's page says so, and links to the attempt whose result it is.
  await page.evaluate((target) => (location.hash = target), `#/runs/${newRun}/items/prepare`);
  const reusedNote = page.getByRole('region', { name: 'Item prepare' }).locator('.reused-result');
  await expect
    .poll(() => reusedNote.textContent())
    .toBe(`Reused, not run: the result of prepare in ${failedRun}, attempt 1, made from the same inputs (a pure item).`);
  expect(await reusedNote.locator('a').getAttribute('href')).toBe(`#/runs/${failedRun}/items/prepare`);
  expect(await page.getByRole('region', { name: 'Item lint' }).count()).toBe(0);
});

test("a best-of-N item's candidates side by side: outcome, check, score, check output, diff, and the winner with why", async () => {
  const { base, operatorToken } = server;
  const page = await signedIn(base, operatorToken, `#/runs/${bestOfRun}/items/answer`);
  const candidates = page.getByRole('region', { name: 'Candidates' });
  await expect.poll(() => candidates.locator('.candidate').count()).toBe(3);
  expect(await candidates.locator('.candidates-winner').textContent()).toMatch(/^Attempt 3 won: the smallest diff \(\d+ bytes\) of 2 passing candidates/);
  expect(await candidates.locator('.candidates-rule').textContent()).toBe('3 a round; the winner is the smallest diff among those whose check passed.');
  const column = (attempt: number) => candidates.locator(`.candidate[data-attempt="${attempt}"]`);
  expect(await column(1).locator('.candidate-verdict').textContent()).toBe('check failed (exit 1)');
  expect(await column(2).locator('.candidate-verdict').textContent()).toBe('check passed (exit 0)');
  expect(await column(3).locator('.winner-badge').textContent()).toBe('winner');
  expect(await candidates.locator('.winner-badge').count()).toBe(1);
  await expect.poll(() => column(1).locator('.candidate-output').textContent()).toBe('answer.txt says 5\n[check] failed (exit 1)');
  await expect.poll(() => column(3).locator('.candidate-output').textContent()).toBe('answer.txt says 4\n[check] passed (exit 0)');
  for (const attempt of [1, 2, 3]) await column(attempt).getByRole('button', { name: 'Show its diff' }).click();
  await expect.poll(() => column(1).locator('.diff').textContent()).toContain('5');
  expect(await column(3).locator('.d2h-file-name').first().textContent()).toContain('answer.txt');
  expect(await column(2).locator('.diff').textContent()).toContain('worked out at some length');

  // At 1400 px the panel beside the graph holds the three in columns (one row); at 800 px they
  // stack or wrap, and nothing pushes the page sideways.
  const tops = () => candidates.locator('.candidate').evaluateAll((elements) => elements.map((element) => Math.round(element.getBoundingClientRect().top)));
  await page.setViewportSize({ width: 1400, height: 1000 });
  await expect.poll(async () => new Set(await tops()).size).toBe(1);
  await expectNoSidewaysScroll(page);
  await screenshot(page, 'candidates', { docs: 'dashboard-candidates.png' });
  await page.setViewportSize({ width: 800, height: 1000 });
  await expect.poll(async () => new Set(await tops()).size).toBeGreaterThan(1);
  await expectNoSidewaysScroll(page);

  // A judge's choice (the field a server with judges adds to `candidates`) is shown beside the order's.
  const judged = await signedIn(
    base,
    operatorToken,
    `#/runs/${bestOfRun}/items/answer`,
    (opened) =>
      void opened.route(`**/v1/runs/${bestOfRun}/items`, async (route) => {
        const response = await route.fetch();
        const items = (await response.json()) as { candidates?: Record<string, unknown> }[];
        for (const item of items) if (item.candidates) item.candidates['judge'] = { attempt: 3, reason: 'the one-line change is the clearer fix' };
        await route.fulfill({ response, json: items });
      }),
  );
  await expect
    .poll(() => judged.getByRole('region', { name: 'Candidates' }).locator('.candidates-judge').textContent())
    .toBe('A judge chose attempt 3: the one-line change is the clearer fix');
});
