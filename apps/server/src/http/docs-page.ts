import { createHash } from 'node:crypto';

/**
 * The script of the docs page: fetches /openapi.json and renders every operation (method, path,
 * summary, parameters, the scope it needs, body schema). Every value from the document is escaped
 * before it becomes HTML. Plain JavaScript in a string, so the page needs nothing from a CDN (the
 * machines running Cairn are often offline) and the Content-Security-Policy can pin its hash.
 */
export const docsScript = `
const escapeHtml = (value) => String(value).replace(/[&<>"']/g, (character) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[character]);
const methods = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];
const schemaText = (schema) => (schema === undefined ? '' : JSON.stringify(schema, null, 2));
// A named component (#/components/schemas/Run) shown where it is used, at most a few levels deep.
function inlineRefs(openapi, schema, depth = 0) {
  if (Array.isArray(schema)) return schema.map((entry) => inlineRefs(openapi, entry, depth));
  if (schema === null || typeof schema !== 'object') return schema;
  if (typeof schema.$ref === 'string' && schema.$ref.startsWith('#/components/schemas/') && depth < 8) return inlineRefs(openapi, openapi.components?.schemas?.[schema.$ref.slice('#/components/schemas/'.length)], depth + 1);
  return Object.fromEntries(Object.entries(schema).map(([key, value]) => [key, inlineRefs(openapi, value, depth)]));
}
function scopeOf(operation) {
  if (operation.security === undefined || operation.security.length === 0) return 'none (public)';
  const scopes = operation.security.flatMap((requirement) => Object.values(requirement).flat());
  return scopes.length === 0 ? 'no token scope allows it' : scopes.join(' or ');
}
function renderOperations(openapi) {
  const sections = [];
  for (const [path, item] of Object.entries(openapi.paths ?? {})) {
    for (const method of methods) {
      const operation = item[method];
      if (operation === undefined) continue;
      const parameters = (operation.parameters ?? []).map((parameter) =>
        '<tr><td><code>' + escapeHtml(parameter.name) + '</code></td><td>' + escapeHtml(parameter.in) + '</td><td>' + (parameter.required ? 'yes' : 'no') + '</td><td><code>' + escapeHtml(parameter.schema?.type ?? '') + '</code> ' + escapeHtml(parameter.description ?? parameter.schema?.description ?? '') + '</td></tr>');
      const bodies = Object.entries(operation.requestBody?.content ?? {}).map(([mediaType, media]) => '<p>Body (<code>' + escapeHtml(mediaType) + '</code>)</p><pre>' + escapeHtml(schemaText(inlineRefs(openapi, media.schema))) + '</pre>');
      sections.push('<section class="operation"><h2><span class="method ' + escapeHtml(method) + '">' + escapeHtml(method.toUpperCase()) + '</span> <code class="path">' + escapeHtml(path) + '</code></h2>'
        + '<p>' + escapeHtml(operation.summary ?? '') + '</p>'
        + '<p class="scope">Scope: <strong>' + escapeHtml(scopeOf(operation)) + '</strong></p>'
        + (parameters.length === 0 ? '' : '<table><thead><tr><th>Parameter</th><th>In</th><th>Required</th><th>Schema</th></tr></thead><tbody>' + parameters.join('') + '</tbody></table>')
        + bodies.join('') + '</section>');
    }
  }
  return sections.join('');
}
const operations = document.getElementById('operations');
fetch('/openapi.json')
  .then((response) => {
    if (!response.ok) throw new Error('the server answered ' + response.status);
    return response.json();
  })
  .then((openapi) => {
    document.getElementById('title').textContent = (openapi.info?.title ?? 'API') + ' ' + (openapi.info?.version ?? '');
    operations.innerHTML = renderOperations(openapi);
  })
  .catch((error) => {
    operations.textContent = 'Could not load /openapi.json: ' + error.message;
  });
`;

/** The page's Content-Security-Policy: its own script (by hash) and requests to this server only. */
export const docsContentSecurityPolicy = `default-src 'none'; script-src 'sha256-${createHash('sha256').update(docsScript).digest('base64')}'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

/** One self-contained HTML page: no external script, style or font. */
export const docsPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Cairn API</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #1d1d1f; }
.operation { border-top: 1px solid #ddd; padding: 0.5rem 0 1rem; }
h2 { font-size: 1.05rem; margin: 0.5rem 0; }
.method { display: inline-block; min-width: 4.5rem; font-family: ui-monospace, monospace; }
.get { color: #0b6e99; } .post { color: #1a7f37; } .put { color: #9a6700; } .delete { color: #cf222e; }
pre { background: #f6f8fa; padding: 0.5rem; overflow-x: auto; font-size: 13px; }
table { border-collapse: collapse; } td, th { padding: 0.2rem 0.6rem; border-bottom: 1px solid #eee; text-align: left; }
</style>
</head>
<body>
<h1 id="title">Cairn API</h1>
<p>Every operation of this server, read from <a href="/openapi.json">/openapi.json</a>. Send <code>Authorization: Bearer cairn_…</code> with a token holding the scope shown (<code>admin</code> holds every scope).</p>
<main id="operations">Loading /openapi.json…</main>
<script>${docsScript}</script>
</body>
</html>
`;
