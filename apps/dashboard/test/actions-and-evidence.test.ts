// The buttons that change a run, shown only to tokens whose scopes allow them, and the evidence
// of a run with a bundle that downloads and verifies — in Debian's Chromium against a real server.
import { readFileSync } from 'node:fs';
import { verifyBundle } from '@cairn/audit';
import { expect, test } from 'vitest';
import { runningServers } from '../../server/src/http/running-server.test-support.ts';
import { browserPages } from './browser-pages.test-support.ts';
import { runReaches, shell, submitRun } from './submit-run.test-support.ts';

const start = runningServers();
const { signedIn, screenshot, cspViolations } = browserPages();

type Api = (path: string, init?: RequestInit) => Promise<Response>;

async function tokenWith(api: Api, scopes: string[]): Promise<{ token: string; id: string }> {
  const created = await api('/v1/tokens', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'browser', scopes }),
  });
  expect(created.status).toBe(201);
  const { token, record } = (await created.json()) as { token: string; record: { id: string } };
  return { token, id: record.id };
}

const gated = {
  version: 1,
  name: 'release',
  items: [shell('prepare', 'true'), shell('deploy', 'echo deployed', { dependsOn: ['prepare'], approval: 'required' })],
};

test('a reviewer approves an item from its button, with a reason the audit log keeps; the run goes on live', async () => {
  const { base, api, composition } = await start('tokens');
  const reviewer = await tokenWith(api, ['runs:read', 'runs:approve']);
  const runId = await submitRun(api, gated);
  const page = await signedIn(base, reviewer.token, `#/runs/${runId}/items/deploy`);
  const node = page.locator('svg.dag [data-item-id="deploy"]');
  await expect.poll(() => node.getAttribute('data-state'), { timeout: 30_000 }).toBe('awaiting-approval');
  const bar = page.getByRole('group', { name: 'Actions on deploy' });
  await expect.poll(() => bar.getByRole('button').allTextContents()).toEqual(['Approve', 'Reject']);
  const hint = page.getByRole('region', { name: 'Item deploy' }).locator('h2 .approval-hint');
  expect(await hint.textContent()).toBe('needs approval');
  // No runs:cancel: neither the item's nor the run's cancel button is there.
  expect(await page.getByRole('button', { name: /Cancel/ }).count()).toBe(0);
  await screenshot(page, 'awaiting-approval');
  await bar.getByLabel('Reason (kept in the audit log)').fill('checked the release notes');
  await bar.getByRole('button', { name: 'Approve' }).click();
  await expect.poll(() => node.getAttribute('data-state'), { timeout: 30_000 }).toBe('succeeded');
  await expect.poll(() => page.getByLabel('Output').textContent()).toContain('deployed');
  // Decided, the gate says so: never "needs approval" beside "succeeded".
  await expect.poll(() => hint.textContent()).toBe('approved');
  const approved = [...composition.engine.audit.entries()].find((entry) => entry.action === 'item.approved');
  expect(approved).toMatchObject({ actor: { id: `token:${reviewer.id}`, via: 'http' }, data: { reason: 'checked the release notes' } });
  expect(await page.getByRole('group', { name: 'Actions on deploy' }).count()).toBe(0);
});

test('a token that may only read sees no approve, reject or cancel button, and no evidence', async () => {
  const { base, api } = await start('tokens');
  const viewer = await tokenWith(api, ['runs:read']);
  const runId = await submitRun(api, gated);
  const page = await signedIn(base, viewer.token, `#/runs/${runId}/items/deploy`);
  await expect.poll(() => page.locator('svg.dag [data-item-id="deploy"]').getAttribute('data-state'), { timeout: 30_000 }).toBe('awaiting-approval');
  await expect.poll(() => page.getByRole('region', { name: 'Item deploy' }).isVisible()).toBe(true);
  expect(await page.getByRole('button', { name: /Approve|Reject|Cancel/ }).count()).toBe(0);
  expect(await page.getByRole('link', { name: 'Evidence' }).count()).toBe(0);
});

test('an operator cancels a run from its button', async () => {
  const { base, api, operatorToken } = await start('tokens');
  const runId = await submitRun(api, { version: 1, name: 'long', items: [shell('wait', 'sleep 60')] });
  const page = await signedIn(base, operatorToken, `#/runs/${runId}`);
  await expect.poll(() => page.locator('svg.dag [data-item-id="wait"]').getAttribute('data-state'), { timeout: 30_000 }).toBe('running');
  await page.getByRole('group', { name: 'Actions on the run' }).getByRole('button', { name: 'Cancel the run' }).click();
  await expect.poll(() => page.locator('h1 .state-badge').textContent(), { timeout: 30_000 }).toBe('cancelled');
  expect(await page.locator('svg.dag [data-item-id="wait"]').getAttribute('data-state')).toBe('cancelled');
});

test("a run's evidence shows what its bundle holds, and the bundle downloads and verifies", async () => {
  const { base, api, composition } = await start('tokens');
  const auditor = await tokenWith(api, ['runs:read', 'audit:read']);
  const runId = await submitRun(api, { version: 1, name: 'evidenced', items: [shell('write', 'echo data > out.txt')] });
  await runReaches(api, runId);
  const page = await signedIn(base, auditor.token, `#/runs/${runId}`);
  await page.getByRole('link', { name: 'Evidence' }).click();
  const evidence = page.getByRole('region', { name: 'Evidence' });
  await expect.poll(() => evidence.locator('.bundle-facts').textContent(), { timeout: 30_000 }).toContain('run.submitted ×1');
  expect(await evidence.locator('.bundle-facts').textContent()).toContain('write #1 patch');
  await screenshot(page, 'evidence');
  const download = page.waitForEvent('download');
  await evidence.getByRole('button', { name: 'Download the bundle' }).click();
  const file = await download;
  expect(file.suggestedFilename()).toBe(`${runId}.bundle.json`);
  const bytes = new Uint8Array(readFileSync((await file.path())!));
  const report = await verifyBundle(bytes, { trustedKeys: [composition.signingKey], readAnchor: (receipt) => composition.anchors[0]!.read(receipt) });
  expect(report).toMatchObject({ valid: true });
});

/** The run's bundle once it holds an anchor receipt (the checkpoint covering the run was anchored). */
async function anchoredBundle(api: Api, runId: string): Promise<{ anchors: unknown[] }> {
  let bundle: { anchors: unknown[] } = { anchors: [] };
  await expect
    .poll(
      async () => {
        bundle = (await (await api(`/v1/runs/${runId}/bundle`)).json()) as { anchors: unknown[] };
        return bundle.anchors.length;
      },
      { timeout: 30_000, interval: 250 },
    )
    .toBeGreaterThan(0);
  return bundle;
}

test("the Evidence view runs every check of cairn verify in the page, says against which key, and shows each anchor receipt's status", async () => {
  const { base, api, keyId } = await start('tokens');
  const auditor = await tokenWith(api, ['runs:read', 'audit:read']);
  const runId = await submitRun(api, { version: 1, name: 'checked', items: [shell('write', 'echo data > out.txt')] });
  await runReaches(api, runId);
  await anchoredBundle(api, runId);
  const page = await signedIn(base, auditor.token, `#/runs/${runId}/evidence`);
  const checks = page.getByRole('region', { name: 'Checks in this page' });
  const rows = checks.locator('.checks-table tr');
  await expect.poll(() => rows.count(), { timeout: 30_000 }).toBe(9);
  const statuses = await rows.evaluateAll((all) => all.map((row) => [row.getAttribute('data-check'), row.getAttribute('data-status')]));
  expect(statuses).toEqual([
    ['entries', 'pass'],
    ['completeness', 'pass'],
    ['inclusion', 'pass'],
    ['checkpoint-signature', 'pass'],
    ['manifests', 'pass'],
    ['artifacts', 'pass'],
    // Receipts were checked, but no anchor is read live from the page.
    ['anchor', 'not-checked'],
    ['timestamp', 'not-checked'],
    // No item of the run has candidates: nothing to re-decide.
    ['candidates', 'pass'],
  ]);
  // A status is one word on one line, "not-checked" too, at 800 px as at 1400, beside a long detail.
  for (const width of [800, 1400]) {
    await page.setViewportSize({ width, height: 900 });
    const lines = await checks.locator('.check-status').evaluateAll((cells) =>
      cells.map((cell) => {
        // The word's lines, and whether its icon sits on its first line.
        const range = document.createRange();
        range.selectNodeContents(cell.lastChild!);
        const rects = Array.from(range.getClientRects()).filter((rect) => rect.width > 0);
        const icon = cell.querySelector('svg')!.getBoundingClientRect();
        const besideIcon = icon.top < rects[0]!.bottom && rects[0]!.top < icon.bottom;
        return `${cell.textContent!.trim()}: ${new Set(rects.map((rect) => Math.round(rect.top))).size}${besideIcon ? '' : ' (icon above)'}`;
      }),
    );
    expect(lines, `at ${width} px`).toEqual([...Array.from({ length: 6 }, () => 'pass: 1'), 'not-checked: 1', 'not-checked: 1', 'pass: 1']);
  }
  // Each check with the verifier's own detail.
  expect(await checks.locator('tr[data-check="inclusion"] .check-detail').textContent()).toMatch(
    /^\d+ entries included in the tree of size \d+ \(root [0-9a-f]{64}\)$/,
  );
  expect(await checks.locator('tr[data-check="checkpoint-signature"] .check-detail').textContent()).toContain(
    'a key taken from the bundle itself, not trusted',
  );
  expect(await checks.locator('tr[data-check="anchor"] .check-detail').textContent()).toMatch(/signed receipt\(s\) bound to this checkpoint/);
  // The claim says against what: not "verified" against keys the bundle chose itself.
  expect(await checks.locator('.verdict').getAttribute('data-verdict')).toBe('untrusted-signer');
  expect(await checks.locator('.verdict').textContent()).toBe('Consistent, not verified');
  expect(await checks.locator('.verdict-reason').textContent()).toContain('not a key you vouched for');
  expect(await checks.locator('.in-page-scope').textContent()).toMatch(/the keys the bundle itself names.*What this does not establish/s);
  const anchors = checks.getByRole('list', { name: 'Anchors' }).locator('li');
  expect(await anchors.count()).toBeGreaterThan(0);
  expect(await anchors.first().getAttribute('data-status')).toBe('pass');
  expect(await anchors.first().textContent()).toMatch(/receipt signed and bound to this checkpoint; not read live/);
  await screenshot(page, 'evidence-checks');

  // The reader names the key they trust: the same checks, now against that key alone.
  await checks.getByLabel('Check against a key id you trust').fill(keyId);
  await checks.getByRole('button', { name: 'Check again' }).click();
  await expect.poll(() => checks.locator('.verdict').getAttribute('data-verdict')).toBe('verified');
  expect(await checks.locator('tr[data-check="checkpoint-signature"] .check-detail').textContent()).toContain('— a trusted key');
  expect(await checks.locator('.verdict').textContent()).toBe('Verified');
  expect(await checks.locator('.verdict-reason').textContent()).toContain('key id you entered');
  expect(await checks.locator('.in-page-scope').textContent()).toContain(`key id ${keyId}, which you entered`);
});

test('the Evidence view loads its verifier and runs every check without a Content Security Policy violation', async () => {
  const { base, api } = await start('tokens');
  // The policy the page runs under allows no eval: a `new Function` anywhere in it is a violation.
  const policy = (await fetch(`${base}/dashboard/`)).headers.get('content-security-policy');
  expect(policy).toContain("script-src 'self'");
  expect(policy).not.toContain('unsafe-eval');
  const auditor = await tokenWith(api, ['runs:read', 'audit:read']);
  const runId = await submitRun(api, { version: 1, name: 'clean', items: [shell('write', 'echo data > out.txt')] });
  await runReaches(api, runId);
  const page = await signedIn(base, auditor.token);
  // Signed in first, so the verifier's chunk loads (and its schemas are built) in this page.
  await page.evaluate((target) => (location.hash = target), `#/runs/${runId}/evidence`);
  const rows = page.getByRole('region', { name: 'Checks in this page' }).locator('.checks-table tr');
  await expect.poll(() => rows.count(), { timeout: 30_000 }).toBe(9);
  // Without zod's JIT the verifier reads the bundle as before: no check fails.
  expect(await rows.evaluateAll((all) => all.map((row) => row.getAttribute('data-status')))).not.toContain('fail');
  expect(await cspViolations(page)).toEqual([]);
});

test('the Evidence view names the check that fails when one byte of an entry is altered on the way', async () => {
  const { base, api } = await start('tokens');
  const auditor = await tokenWith(api, ['runs:read', 'audit:read']);
  const runId = await submitRun(api, { version: 1, name: 'altered', items: [shell('write', 'echo data > out.txt')] });
  await runReaches(api, runId);
  const page = await signedIn(base, auditor.token, '', (page) => {
    void page.route(/\/v1\/runs\/[^/]+\/bundle$/, async (route) => {
      const response = await route.fetch();
      const text = await response.text();
      // One digit of the first entry's time, still a valid time: the JSON stays canonical and valid.
      const time = text.indexOf('"time":"', text.indexOf('"entries":['));
      const at = text.indexOf('Z"', time) - 1;
      const altered = `${text.slice(0, at)}${(Number(text[at]) + 1) % 10}${text.slice(at + 1)}`;
      expect(altered.length).toBe(text.length);
      await route.fulfill({ response, body: altered });
    });
  });
  await page.evaluate((target) => (location.hash = target), `#/runs/${runId}/evidence`);
  const checks = page.getByRole('region', { name: 'Checks in this page' });
  await expect.poll(() => checks.locator('.verdict').getAttribute('data-verdict'), { timeout: 30_000 }).toBe('failed');
  expect(await checks.locator('.verdict').textContent()).toBe('Failed');
  expect(await checks.locator('.verdict-reason').textContent()).toBe('the inclusion check did not pass.');
  expect(await checks.locator('tr[data-check="inclusion"]').getAttribute('data-status')).toBe('fail');
  expect(await checks.locator('tr[data-check="inclusion"] .check-detail').textContent()).toMatch(/^\$\.inclusionProof: the entries do not recompute the root/);
  expect(await checks.locator('tr[data-check="entries"]').getAttribute('data-status')).toBe('pass');
});

test('a finished run runs again from its page: the same spec, a new run; a token that may only read sees no button', async () => {
  const { base, api, operatorToken } = await start('tokens');
  const spec = { version: 1, name: 'again', idempotencyKey: 'again-1', labels: { team: 'docs' }, items: [shell('say', 'echo once more')] };
  const runId = await submitRun(api, spec);
  await runReaches(api, runId);
  const reader = await tokenWith(api, ['runs:read']);
  const readOnly = await signedIn(base, reader.token, `#/runs/${runId}`);
  await expect.poll(() => readOnly.locator('h1 .live').textContent()).toBe('ended');
  expect(await readOnly.getByRole('button', { name: 'Run again' }).count()).toBe(0);
  const page = await signedIn(base, operatorToken, `#/runs/${runId}`);
  await page.getByRole('button', { name: 'Run again' }).click();
  await expect.poll(() => page.url()).not.toMatch(new RegExp(`#/runs/${runId}$`));
  const newRunId = /#\/runs\/([^/?]+)$/.exec(page.url())![1]!;
  await runReaches(api, newRunId);
  const specOf = async (id: string) => (await (await api(`/v1/runs/${id}/spec`)).json()) as Record<string, unknown>;
  const { idempotencyKey: _key, ...rest } = await specOf(runId);
  expect(await specOf(newRunId)).toEqual(rest);
  await expect.poll(() => page.locator('svg.dag [data-item-id="say"]').getAttribute('data-state'), { timeout: 30_000 }).toBe('succeeded');
});
