// GET /docs: a real server answers the page without a token, and the page's own script, run
// against that server's real /openapi.json, renders every operation with the scope it needs.
import { createHash } from 'node:crypto';
import { runInNewContext } from 'node:vm';
import { expect, test, vi } from 'vitest';
import { runningServers } from './running-server.test-support.ts';

const start = runningServers();

interface OpenApiDocument {
  readonly paths: Record<string, Record<string, { readonly security?: Record<string, string[]>[] }>>;
}

/** The served page's script, run with this server as its origin; what it put in `#operations`. */
async function renderPage(base: string, html: string): Promise<{ html: string; renderOperations: (openapi: unknown) => string }> {
  const script = /<script>([\s\S]*)<\/script>/.exec(html)![1]!;
  const elements: Record<string, { innerHTML?: string; textContent?: string }> = { operations: {}, title: {} };
  const context: Record<string, unknown> = { fetch: (path: string) => fetch(new URL(path, base)), document: { getElementById: (id: string) => elements[id] } };
  runInNewContext(script, context);
  await vi.waitFor(() => expect(elements['operations']!.innerHTML ?? elements['operations']!.textContent).toBeDefined(), { timeout: 10_000 });
  expect(elements['operations']!.textContent).toBeUndefined();
  return { html: elements['operations']!.innerHTML!, renderOperations: context['renderOperations'] as (openapi: unknown) => string };
}

test('GET /docs answers a self-contained page, without a token, that lists every operation of /openapi.json with its scope', { timeout: 30_000 }, async () => {
  const { base } = await start();
  const answer = await fetch(`${base}/docs`);
  expect(answer.status).toBe(200);
  expect(answer.headers.get('content-type')).toBe('text/html; charset=utf-8');
  const page = await answer.text();
  // Nothing from elsewhere: no external script, style or font, and the policy pins the one script.
  expect(page).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\//);
  const script = /<script>([\s\S]*)<\/script>/.exec(page)![1]!;
  expect(answer.headers.get('content-security-policy')).toContain(`script-src 'sha256-${createHash('sha256').update(script).digest('base64')}'`);

  const openapi = (await (await fetch(`${base}/openapi.json`)).json()) as OpenApiDocument;
  expect(openapi.paths['/v1/runs']!['post']!.security).toEqual([{ bearerToken: ['runs:submit'] }]);
  expect(openapi.paths['/v1/secrets/{name}']!['put']!.security).toEqual([{ bearerToken: ['admin'] }]);
  expect(openapi.paths['/healthz']!['get']!.security).toEqual([]);

  const rendered = await renderPage(base, page);
  const sections = rendered.html.split('<section class="operation">').slice(1);
  const operations = Object.entries(openapi.paths).flatMap(([path, item]) => Object.keys(item).map((method) => ({ path, method })));
  expect(operations.length).toBeGreaterThan(15);
  expect(sections).toHaveLength(operations.length);
  for (const { path, method } of operations) {
    const section = sections.find((candidate) => candidate.includes(`>${method.toUpperCase()}</span> <code class="path">${path}</code>`));
    expect(section, `${method} ${path}`).toBeDefined();
    const scopes = openapi.paths[path]![method]!.security?.flatMap((requirement) => Object.values(requirement).flat());
    expect(section).toContain(
      scopes === undefined || scopes.length === 0 ? 'Scope: <strong>none (public)</strong>' : `Scope: <strong>${scopes.join(' or ')}</strong>`,
    );
  }
  const setSecret = sections.find((section) => section.includes('<code class="path">/v1/secrets/{name}</code>') && section.includes('>PUT<'))!;
  expect(setSecret).toContain('Body (<code>application/json</code>)');
  expect(setSecret).toContain('&quot;value&quot;');
  // A body that names a component is shown as the component, not as a bare $ref.
  const submitRun = sections.find((section) => section.includes('<code class="path">/v1/runs</code>') && section.includes('>POST<'))!;
  expect(submitRun).toContain('&quot;items&quot;');
  expect(submitRun).not.toContain('$ref');

  // Whatever a document says is text, never markup.
  const hostile = rendered.renderOperations({
    paths: { '/x/<img src=x onerror=alert(1)>': { get: { summary: '<script>alert("s")</script>', parameters: [{ name: '"><b>', in: 'query' }] } } },
  });
  expect(hostile).not.toMatch(/<img|<script|<b>/);
  expect(hostile).toContain('&lt;script&gt;alert(&quot;s&quot;)&lt;/script&gt;');
});
