// A page the operator merely visits must get nothing from a Cairn server on their machine. Driven
// in Debian's Chromium: a page served from another loopback port, and a file:// page, send what a
// page may send without asking (a "simple" text/plain POST in no-cors mode, a form) to create a
// run that reads a server secret, and to approve an item; a page on a name re-pointed at the
// server (DNS rebinding, simulated with Chromium's host resolver rules) loads nothing from it.
// Then the dashboard on a loopback-operator server signs in with a link, as on any other.
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, expect, test } from 'vitest';
import { runCli } from '../../server/src/cli/run-cli.test-support.ts';
import { runningServers } from '../../server/src/http/running-server.test-support.ts';
import { browserPages } from './browser-pages.test-support.ts';

const start = runningServers();
const rebound = 'rebind.example';
const { open } = browserPages({ launchArgs: [`--host-resolver-rules=MAP ${rebound} 127.0.0.1`] });

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

/** The attacker's page: every request a page may send to another origin without a preflight. */
function attackPage(base: string): string {
  const spec = [
    'version: 1',
    'name: drive-by',
    'items:',
    '  - id: leak',
    '    network: true',
    '    secrets: [API_KEY]',
    '    runtime: { kind: command, argv: [/bin/sh, -c, "echo $API_KEY"] }',
  ].join('\n');
  return `<!doctype html><meta charset="utf-8"><title>a page</title>
<iframe name="sink"></iframe>
<form id="form" method="POST" action="${base}/v1/runs" enctype="text/plain" target="sink"><input name="version: 1
name: form
items:
  - id: x
    runtime: { kind: command, argv: [/bin/true] }
#" value=""></form>
<script>
const spec = ${JSON.stringify(spec)};
const tries = [
  fetch('${base}/v1/runs', { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: spec }),
  fetch('${base}/v1/runs', { method: 'POST', mode: 'no-cors', body: spec }),
  fetch('${base}/v1/runs', { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: spec }),
  fetch('${base}/v1/runs/any/items/gated/approve', { method: 'POST', mode: 'no-cors' }),
  fetch('${base}/v1/secrets/API_KEY', { method: 'DELETE', mode: 'no-cors' }).catch(() => {}),
];
document.getElementById('form').submit();
Promise.allSettled(tries).then(() => setTimeout(() => (document.title = 'done'), 500));
</script>`;
}

/** An HTTP server on another loopback port serving one page: the other origin. */
async function serveElsewhere(html: string): Promise<string> {
  const server: Server = createServer((_request, response) => response.writeHead(200, { 'content-type': 'text/html' }).end(html));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => server.close());
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/`;
}

test('a page from another loopback port or a file:// page creates no run, reads no secret and approves nothing on a loopback-operator server', async () => {
  const { base, api, composition } = await start('loopback-operator');
  await composition.engine.setSecret('API_KEY', 'sk-do-not-leak-4e2a', { kind: 'user', id: 'admin', via: 'cli' });

  const elsewhere = await serveElsewhere(attackPage(base));
  const folder = mkdtempSync(join(tmpdir(), 'cairn-attack-page-'));
  closers.push(() => rmSync(folder, { recursive: true, force: true }));
  writeFileSync(join(folder, 'page.html'), attackPage(base));

  for (const url of [elsewhere, pathToFileURL(join(folder, 'page.html')).href]) {
    const page = await open(url, { allowConsoleErrors: [/./] });
    await expect.poll(() => page.title(), { message: `the page at ${url} ran its requests` }).toBe('done');
  }

  // The operator's own client (no browser) sees no run, and the secret is still there.
  const runs = (await (await api('/v1/runs')).json()) as { runs: unknown[] };
  expect(runs.runs).toEqual([]);
  expect(((await (await api('/v1/secrets')).json()) as { name: string }[]).map((secret) => secret.name)).toEqual(['API_KEY']);
});

test('a name re-pointed at the server (DNS rebinding) gets a refusal, not the dashboard or the API; the server under its own names still answers', async () => {
  const { base } = await start('loopback-operator');
  const port = new URL(base).port;
  const page = await open('about:blank', { allowConsoleErrors: [/status of 403/] });
  for (const path of ['/dashboard/', '/v1/runs', '/openapi.json']) {
    const answer = await page.goto(`http://${rebound}:${port}${path}`);
    expect(answer?.status(), path).toBe(403);
    expect(await answer?.json()).toMatchObject({ code: 'CAIRN_REQUEST_ORIGIN_REFUSED', path: 'headers.host' });
  }
  for (const host of ['127.0.0.1', 'localhost']) expect((await page.goto(`http://${host}:${port}/dashboard/`))?.status(), host).toBe(200);
});

test("a loopback-operator server's dashboard signs in with a link: the browser of the server's own user is not the operator by its uid", async () => {
  const { base, configFile } = await start('loopback-operator');
  const page = await open(`${base}/dashboard/`, { allowConsoleErrors: [/status of 401/] });
  await expect.poll(() => page.getByLabel('Bearer token').isVisible()).toBe(true);
  expect(await page.locator('.hint').textContent()).toContain('cairn dashboard');

  const printed = await runCli(['--config', configFile, 'dashboard', '--server', base]);
  const link = /(http:\S+#signin=\S+)/.exec(printed.stdout)?.[1];
  expect(link, printed.stdout + printed.stderr).toBeDefined();
  const signedIn = await open(link!);
  await expect.poll(() => signedIn.getByRole('heading', { name: /Runs/ }).isVisible()).toBe(true);
  expect(await signedIn.getByRole('button', { name: 'Sign out' }).isVisible()).toBe(true);
});
