// GET /dashboard/: a real server answers the built dashboard without a token (its data comes from
// /v1 with the browser's own credentials), with a strict content security policy, hashed assets
// cached for good.
// GET /v1/runs/:runId/spec: the spec the page draws the run's graph from.
import Fastify from 'fastify';
import { expect, test } from 'vitest';
import { dashboardAssetsDirectory, dashboardContentSecurityPolicy, registerDashboardRoutes } from './dashboard-routes.ts';
import type { HttpApp } from '../../http/http-app.ts';
import { replyWithError } from '../../http/error-replies.ts';
import { runningServers } from '../../http/running-server.test-support.ts';

const start = runningServers();

test('GET /dashboard/ answers the built page without a token, its scripts and styles from /dashboard/assets/, under a strict policy', async () => {
  expect(dashboardAssetsDirectory(), 'build the dashboard first: pnpm --filter @cairn/dashboard build').not.toBeNull();
  const { base } = await start('tokens');
  const redirect = await fetch(`${base}/dashboard`, { redirect: 'manual' });
  expect(redirect.status).toBe(302);
  expect(redirect.headers.get('location')).toBe('/dashboard/');

  const page = await fetch(`${base}/dashboard/`);
  expect(page.status).toBe(200);
  expect(page.headers.get('content-type')).toMatch(/^text\/html/);
  expect(page.headers.get('content-security-policy')).toBe(dashboardContentSecurityPolicy);
  expect(page.headers.get('referrer-policy')).toBe('no-referrer');
  expect(page.headers.get('cache-control')).toBe('no-store');
  const html = await page.text();
  const script = /<script[^>]+src="([^"]+)"/.exec(html)?.[1];
  expect(script).toMatch(/^\/dashboard\/assets\/[\w-]+\.js$/);
  // No script, style or font from anywhere else.
  expect(html).not.toMatch(/https?:\/\//);

  const asset = await fetch(`${base}${script}`);
  expect(asset.status).toBe(200);
  expect(asset.headers.get('content-type')).toMatch(/javascript/);
  expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
  expect((await fetch(`${base}/dashboard/assets/nothing-here.js`)).status).toBe(404);

  // The page is hidden from the API's document: it is not an operation.
  const openapi = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, unknown> };
  expect(Object.keys(openapi.paths).filter((path) => path.startsWith('/dashboard'))).toEqual([]);
});

test('a server whose dashboard was not built answers its pages with a 404 that says how to build it', async () => {
  const app = Fastify() as unknown as HttpApp;
  app.setErrorHandler((error, request, reply) => replyWithError(error instanceof Error ? error : new Error(String(error)), request, reply));
  await registerDashboardRoutes(app, { directory: null });
  const answer = await app.inject({ method: 'GET', url: '/dashboard/' });
  expect(answer.statusCode).toBe(404);
  expect(answer.json()).toMatchObject({ code: 'CAIRN_NOT_FOUND', message: expect.stringContaining('pnpm --filter @cairn/dashboard build') });
  await app.close();
});

test('GET /v1/runs/:runId/spec answers the spec a run was submitted with: its items, dependsOn and needs (runs:read)', async () => {
  const { api } = await start('tokens');
  const spec = {
    version: 1,
    name: 'graph',
    items: [
      { id: 'a', runtime: { kind: 'command', argv: ['/bin/true'] } },
      { id: 'b', dependsOn: ['a'], runtime: { kind: 'command', argv: ['/bin/true'] } },
    ],
  };
  const submitted = await api('/v1/runs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
  const { runId } = (await submitted.json()) as { runId: string };
  const answer = await api(`/v1/runs/${runId}/spec`);
  expect(answer.status).toBe(200);
  const body = (await answer.json()) as { name: string; items: { id: string; dependsOn?: string[] }[] };
  expect(body.name).toBe('graph');
  expect(body.items.map((item) => [item.id, item.dependsOn ?? []])).toEqual([
    ['a', []],
    ['b', ['a']],
  ]);
  const unknown = await api('/v1/runs/no-such-run/spec');
  expect(unknown.status).toBe(404);
  expect(await unknown.json()).toMatchObject({ code: 'CAIRN_NOT_FOUND', path: 'runId' });
  expect((await fetch(answer.url)).status).toBe(401);
});

test("GET /v1/runs/:runId/items/:itemId/attempts answers each attempt's outcome, timing, failure and artifacts (runs:read)", async () => {
  const { api } = await start('tokens');
  const spec = {
    version: 1,
    name: 'tries',
    items: [
      { id: 'flaky', retry: { maxAttempts: 2, backoff: { initial: '1s' } }, runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo nope >&2; exit 4'] } },
      { id: 'writer', runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo hi > note.txt'] } },
    ],
  };
  const submitted = await api('/v1/runs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
  const { runId } = (await submitted.json()) as { runId: string };
  await expect
    .poll(async () => ((await (await api(`/v1/runs/${runId}`)).json()) as { state: string }).state, { timeout: 30_000 })
    .toMatch(/^(succeeded|failed)$/);
  type Attempt = {
    attempt: number;
    state: string;
    exitCode: number | null;
    artifacts: Record<string, string> | null;
    dispatchedAt: string;
    finishedAt: string | null;
    failure: { code: string; stderrTail: string } | null;
  };
  const flaky = (await (await api(`/v1/runs/${runId}/items/flaky/attempts`)).json()) as Attempt[];
  expect(flaky.map((attempt) => [attempt.attempt, attempt.state, attempt.exitCode, attempt.failure?.code])).toEqual([
    [1, 'failed', 4, 'CAIRN_EXIT_NONZERO'],
    [2, 'failed', 4, 'CAIRN_EXIT_NONZERO'],
  ]);
  expect(flaky[0]!.failure!.stderrTail).toBe('nope\n');
  expect(Date.parse(flaky[0]!.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(flaky[0]!.dispatchedAt));
  const writer = (await (await api(`/v1/runs/${runId}/items/writer/attempts`)).json()) as Attempt[];
  expect(writer).toHaveLength(1);
  expect(writer[0]).toMatchObject({ state: 'succeeded', exitCode: 0, failure: null, artifacts: { patch: expect.stringMatching(/^sha256:/) } });
  const unknown = await api(`/v1/runs/${runId}/items/nothing/attempts`);
  expect(unknown.status).toBe(404);
  expect(await unknown.json()).toMatchObject({ code: 'CAIRN_NOT_FOUND', path: 'itemId' });
});
