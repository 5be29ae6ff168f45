// docs/reference/http.md is generated from the server's own OpenAPI document, so the reference
// cannot drift from the routes. Regenerate it with
// `CAIRN_WRITE_DOCS=1 pnpm exec vitest run apps/server/src/http/http-reference.test.ts`.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { runningServers } from './running-server.test-support.ts';

const referencePath = join(import.meta.dirname, '..', '..', '..', '..', 'docs', 'reference', 'http.md');
const serve = runningServers();

interface JsonSchema {
  readonly type?: string | string[];
  readonly enum?: unknown[];
  readonly const?: unknown;
  readonly anyOf?: JsonSchema[];
  readonly oneOf?: JsonSchema[];
  readonly items?: JsonSchema;
  readonly properties?: Record<string, JsonSchema>;
  readonly required?: string[];
  readonly additionalProperties?: JsonSchema | boolean;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly pattern?: string;
  readonly description?: string;
}
interface Operation {
  readonly summary?: string;
  readonly security?: { bearerToken: string[] }[];
  readonly parameters?: { name: string; in: string; required?: boolean; schema?: JsonSchema; description?: string }[];
  readonly requestBody?: { content: Record<string, { schema: JsonSchema }> };
  readonly responses?: Record<string, { description?: string; content?: Record<string, unknown> }>;
}

/** A schema in a few words: `string (1–200)`, `"skip" | "latest"`, `object`. */
function describeSchema(schema: JsonSchema | undefined): string {
  if (schema === undefined) return 'any';
  const choices = schema.anyOf ?? schema.oneOf;
  if (choices) return choices.map(describeSchema).join(' or ');
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((value) => JSON.stringify(value)).join(' \\| ');
  const type = Array.isArray(schema.type) ? schema.type.join(' or ') : (schema.type ?? 'any');
  if (type === 'array') return `array of ${describeSchema(schema.items)}`;
  if (type === 'object' && schema.properties === undefined && typeof schema.additionalProperties === 'object') return `map of ${describeSchema(schema.additionalProperties)}`;
  const bounds = [schema.minLength ?? schema.minimum, schema.maxLength ?? schema.maximum];
  const range = bounds.some((bound) => bound !== undefined) ? ` (${bounds[0] ?? ''}–${bounds[1] ?? ''})` : '';
  return `${type}${range}${schema.pattern ? `, matching \`${schema.pattern}\`` : ''}`;
}

function renderOperation(method: string, path: string, operation: Operation): string[] {
  const scope = operation.security?.[0]?.bearerToken[0];
  const lines = [`### \`${method.toUpperCase()} ${path}\``, '', `${operation.summary ?? ''}`, '', scope ? `Scope: \`${scope}\` (or \`admin\`).` : 'No token needed.', ''];
  const rows: string[] = [];
  for (const parameter of operation.parameters ?? []) rows.push(`| \`${parameter.name}\` | ${parameter.in} | ${parameter.required ? 'yes' : 'no'} | ${describeSchema(parameter.schema)} |`);
  for (const [type, { schema }] of Object.entries(operation.requestBody?.content ?? {})) {
    const required = new Set(schema.required ?? []);
    if (schema.properties === undefined) rows.push(`| body | ${type} | yes | ${describeSchema(schema)} |`);
    for (const [name, field] of Object.entries(schema.properties ?? {})) rows.push(`| \`${name}\` | body (${type}) | ${required.has(name) ? 'yes' : 'no'} | ${describeSchema(field)} |`);
  }
  if (rows.length > 0) lines.push('| name | in | required | schema |', '|---|---|---|---|', ...rows, '');
  const responses = Object.entries(operation.responses ?? {}).filter(([status]) => status !== 'default');
  const answer = ([status, response]: [string, { content?: Record<string, unknown> }]) => `${status}${response.content ? ` (${Object.keys(response.content).join(', ')})` : ''}`;
  if (responses.length > 0) lines.push(`Answers: ${responses.map(answer).join(', ')}.`, '');
  return lines;
}

function renderHttpReference(document: { info: { version: string }; paths: Record<string, Record<string, Operation>> }): string {
  const groups = new Map<string, string[]>();
  for (const [path, methods] of Object.entries(document.paths)) {
    const group = path.startsWith('/v1/') ? (path.split('/')[2] ?? 'other') : 'server';
    for (const [method, operation] of Object.entries(methods)) groups.set(group, [...(groups.get(group) ?? []), ...renderOperation(method, path, operation)]);
  }
  return [
    '# HTTP API reference',
    '',
    `The reference server's API, version ${document.info.version}. This page is generated from the`,
    'OpenAPI 3.1 document the server serves at `/openapi.json` and checked by',
    '`apps/server/src/http/http-reference.test.ts`.',
    '',
    '- **Auth**: every `/v1` operation needs `Authorization: Bearer cairn_...` holding the scope',
    '  it names (`admin` holds them all); 401 without a valid token, 403 without the scope (audited',
    '  as `access.denied`). A server with `server.auth: loopback-operator` (loopback only) needs none.',
    '- **Errors**: every error is JSON `{ code, message, action, path?, issues? }` with a code from',
    '  the [catalogue](errors.md) and its status.',
    '- **Limits**: request bodies up to 34 MiB.',
    '',
    ...[...groups.entries()].flatMap(([group, lines]) => [`## ${group}`, '', ...lines]),
  ].join('\n');
}

test('docs/reference/http.md describes exactly the operations of the OpenAPI document', { timeout: 60_000 }, async () => {
  const { base } = await serve();
  const expected = renderHttpReference((await (await fetch(`${base}/openapi.json`)).json()) as Parameters<typeof renderHttpReference>[0]);
  if (process.env['CAIRN_WRITE_DOCS'] === '1') writeFileSync(referencePath, expected);
  expect(readFileSync(referencePath, 'utf8')).toBe(expected);
});
