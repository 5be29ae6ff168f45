// A delivered pull request on a run's page, in Debian's Chromium against a real server: a command
// item writes a file, a deliver item pushes it to `git http-backend` on loopback and opens its pull
// request through the GitHub REST test endpoint. The run's page and the deliver item's panel show
// the change request, branch, commit, outcome and provenance; the provenance downloads as the exact
// bytes its digest names, and the page's checks of it say what they checked it against.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { git, startGitHttpServer, type GitHttpServer } from '../../../packages/git-forge/src/git-http-server.test-support.ts';
import { startGitHubApiServer, type GitHubApiServer } from '../../../packages/github-forge/src/github-api.test-support.ts';
import { runningServers } from '../../server/src/http/running-server.test-support.ts';
import { browserPages } from './browser-pages.test-support.ts';
import { runReaches, shell, submitRun } from './submit-run.test-support.ts';

const start = runningServers();
const { signedIn, screenshot } = browserPages();
const repository = 'acme/app';
const token = `github_pat_${'d'.repeat(40)}`;

let gitServer: GitHttpServer;
let github: GitHubApiServer;
beforeAll(async () => {
  github = await startGitHubApiServer({
    repositoryPath: (name) => gitServer.path(name),
    // The forge uses a personal token here (the end-to-end test signs in as an app installation).
    app: { id: 1, installationId: 1, publicKey: generateKeyPairSync('ed25519').publicKey },
  });
  gitServer = await startGitHttpServer({ username: 'x-access-token', password: token, accepts: (_user, password) => github.knows(password) });
  github.addToken(token, { write: true });
  await gitServer.createRepository(repository);
  const main = await gitServer.commit(repository, { 'README.md': '# app\n' });
  await git(gitServer.path(repository), ['update-ref', 'refs/heads/main', main]);
});
afterAll(async () => {
  await github?.close();
  await gitServer?.close();
});

test("a deliver item's pull request, branch, commit and provenance on the run's page and in its panel; the provenance downloads as stored and the page checks it", async () => {
  const { base, api, operatorToken, composition } = await start('tokens', {
    config: {
      // The run's workspace is main of the served repository, read from its folder (a mirror the config lists).
      workspaces: { repositories: [`${gitServer.root}/`] },
      forges: {
        github: { kind: 'github', repository, tokenSecret: 'GITHUB_TOKEN', apiUrl: github.url, gitUrl: gitServer.url('').replace(/\/\.git$/, '') },
      },
    },
  });
  await composition.engine.setSecret('GITHUB_TOKEN', token, { kind: 'user', id: 'admin', via: 'cli' });
  const runId = await submitRun(api, {
    version: 1,
    name: 'fix the readme',
    workspace: { repository: gitServer.path(repository), ref: 'main' },
    items: [
      shell('fix', "printf '# app\\n\\nFixed.\\n' > README.md"),
      {
        id: 'pull-request',
        dependsOn: ['fix'],
        runtime: { kind: 'deliver', forge: 'github', from: 'fix', branch: 'cairn/fix-readme', base: 'main', title: 'Fix the README' },
      },
    ],
  });
  await runReaches(api, runId);
  const items = (await (await api(`/v1/runs/${runId}/items`)).json()) as { itemId: string; state: string; delivery?: Record<string, any> }[];
  const delivery = items.find((item) => item.itemId === 'pull-request')?.delivery;
  expect(delivery, JSON.stringify(items)).toMatchObject({ forge: 'github', from: 'fix', branch: 'cairn/fix-readme', base: 'main', outcome: 'pushed' });

  const page = await signedIn(base, operatorToken, `#/runs/${runId}`);
  const panel = page.getByRole('region', { name: 'Delivery of pull-request' });
  await expect.poll(() => panel.isVisible(), { timeout: 30_000 }).toBe(true);
  const link = panel.getByRole('link', { name: `#${delivery!.changeRequest.id}` });
  expect(await link.getAttribute('href')).toBe(delivery!.changeRequest.url);
  expect(await panel.locator('[data-fact="branch"]').textContent()).toBe('cairn/fix-readme on main');
  expect(await panel.locator('[data-fact="commit"]').textContent()).toBe(delivery!.commit);
  expect(await panel.locator('[data-fact="outcome"]').getAttribute('data-outcome')).toBe('pushed');
  expect(await panel.locator('[data-fact="provenance"] code').textContent()).toBe(delivery!.provenance.digest);
  // The page's checks: every one passes, against the key the run's evidence names, and it says so
  // rather than calling the provenance verified.
  const checks = panel.getByRole('region', { name: 'Provenance checks in this page' });
  await expect.poll(() => checks.locator('tr[data-check]').count(), { timeout: 30_000 }).toBe(5);
  expect(
    await checks.locator('tr[data-check]').evaluateAll((rows) => rows.map((row) => [row.getAttribute('data-check'), row.getAttribute('data-status')])),
  ).toEqual([
    ['digest', 'pass'],
    ['bundle', 'pass'],
    ['signature', 'pass'],
    ['statement', 'pass'],
    ['subject', 'pass'],
  ]);
  expect(await checks.locator('.verdict').textContent()).toBe('Consistent, not verified');
  expect(await checks.locator('.verdict-reason').textContent()).toContain(composition.signingKey.keyId);

  // The download is the stored provenance, byte for byte: its SHA-256 is the digest shown.
  const [download] = await Promise.all([page.waitForEvent('download'), panel.getByRole('button', { name: 'Download the provenance' }).click()]);
  expect(download.suggestedFilename()).toBe(`${runId}-fix.provenance.json`);
  const bytes = readFileSync((await download.path())!);
  expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(delivery!.provenance.digest);

  for (const width of [1400, 800]) {
    await page.setViewportSize({ width, height: 900 });
    await panel.evaluate((element) => element.scrollIntoView({ block: 'center' }));
    await screenshot(page, `delivery-${width}`, { docs: `dashboard-delivery-${width}.png` });
  }

  // The deliver item's own view shows the same delivery in its panel (and the run's list leaves it out).
  await page.evaluate((target) => (location.hash = target), `#/runs/${runId}/items/pull-request`);
  const inItem = page.getByRole('region', { name: 'Item pull-request' }).getByRole('region', { name: 'Delivery of pull-request' });
  await expect.poll(() => inItem.locator('tr[data-check="subject"]').getAttribute('data-status'), { timeout: 30_000 }).toBe('pass');
  expect(await page.getByRole('region', { name: 'Delivery of pull-request' }).count()).toBe(1);
  // Its signed manifest says what it delivers, where (not an agent's adapter).
  await expect
    .poll(() => page.getByRole('region', { name: 'Manifest of attempt 1' }).locator('.manifest-deliver').textContent(), { timeout: 30_000 })
    .toBe('deliver fix to github as cairn/fix-readme on main');
  // It changed no workspace: its panel shows its delivery, not an empty patch.
  expect(
    await page
      .getByRole('region', { name: 'Item pull-request' })
      .getByText(/changed nothing/)
      .count(),
  ).toBe(0);
});
