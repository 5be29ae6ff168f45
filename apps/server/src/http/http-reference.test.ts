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
  readonly $ref?: string;
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
  readonly format?: string;
  readonly description?: string;
}
interface Parameter {
  readonly name: string;
  readonly in: string;
  readonly required?: boolean;
  readonly schema?: JsonSchema;
  readonly description?: string;
}
interface Operation {
  readonly operationId?: string;
  readonly summary?: string;
  readonly tags?: string[];
  readonly security?: { bearerToken: string[] }[];
  readonly parameters?: Parameter[];
  readonly requestBody?: { content: Record<string, { schema: JsonSchema }> };
  readonly responses?: Record<string, { description?: string; content?: Record<string, { schema: JsonSchema }> }>;
}
interface OpenApiDocument {
  readonly info: { version: string };
  readonly tags?: { name: string; description?: string }[];
  readonly paths: Record<string, Record<string, Operation>>;
  readonly webhooks?: Record<string, Record<string, Operation>>;
  readonly components?: { schemas?: Record<string, JsonSchema> };
}

const componentPrefix = '#/components/schemas/';
/** The component a `$ref` names (`Run`), or undefined. */
const componentName = (schema: JsonSchema | undefined) => (schema?.$ref?.startsWith(componentPrefix) ? schema.$ref.slice(componentPrefix.length) : undefined);

/** A schema in a few words: `string (1–200)`, `"skip" | "latest"`, `object`, a component as [`Run`](#run). */
function describeSchema(schema: JsonSchema | undefined): string {
  if (schema === undefined) return 'any';
  const component = componentName(schema);
  if (component !== undefined) return `[\`${component}\`](#${component.toLowerCase()})`;
  const choices = schema.anyOf ?? schema.oneOf;
  if (choices) return choices.map(describeSchema).join(' or ');
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((value) => JSON.stringify(value)).join(' \\| ');
  const type = Array.isArray(schema.type) ? schema.type.join(' or ') : (schema.type ?? 'any');
  if (type === 'array') return `array of ${describeSchema(schema.items)}`;
  if (type === 'object' && schema.properties === undefined && typeof schema.additionalProperties === 'object')
    return `map of ${describeSchema(schema.additionalProperties)}`;
  // JavaScript's safe-integer range is what any integer has: not worth saying.
  const bounds = [schema.minLength ?? schema.minimum, schema.maxLength ?? schema.maximum].map((bound) =>
    bound !== undefined && Math.abs(bound) >= Number.MAX_SAFE_INTEGER ? undefined : bound,
  );
  const range = bounds.some((bound) => bound !== undefined) ? ` (${bounds[0] ?? ''}–${bounds[1] ?? ''})` : '';
  // A format (date-time) says what its long pattern says; a pattern's pipes would end a table cell.
  // A pattern too long to read (a timestamp's calendar rules) is left to the document.
  const pattern =
    schema.pattern === undefined || schema.format !== undefined
      ? ''
      : schema.pattern.length > 80
        ? ', matching a pattern (see /openapi.json)'
        : `, matching \`${schema.pattern.replaceAll('|', '\\|')}\``;
  return `${type}${schema.format ? ` (${schema.format})` : ''}${range}${pattern}`;
}

/** Table cells hold no line breaks or pipes. */
const cell = (text: string | undefined) => (text ?? '').replaceAll('\n', ' ').replaceAll('|', '\\|');

/** One row per field of an object schema (a component's own fields where it names one); with `where`, a column saying where it goes. */
function fieldRows(document: OpenApiDocument, schema: JsonSchema, where?: string): string[] {
  const resolved = document.components?.schemas?.[componentName(schema) ?? ''] ?? schema;
  const required = new Set(resolved.required ?? []);
  return Object.entries(resolved.properties ?? {}).map(
    ([name, field]) =>
      `| \`${name}\` |${where === undefined ? '' : ` ${where} |`} ${required.has(name) ? 'yes' : 'no'} | ${describeSchema(field)}${field.description ? `: ${cell(field.description)}` : ''} |`,
  );
}

/** An inline object answer in a line: `{ ok: boolean, count?: integer }`. */
function describeShape(schema: JsonSchema): string {
  const required = new Set(schema.required ?? []);
  return `{ ${Object.entries(schema.properties ?? {})
    .map(([name, field]) => `${name}${required.has(name) ? '' : '?'}: ${componentName(field) ?? describeSchema(field)}`)
    .join(', ')} }`;
}

function renderOperation(document: OpenApiDocument, method: string, path: string, operation: Operation): string[] {
  const scope = operation.security?.[0]?.bearerToken[0];
  const lines = [
    `### \`${method.toUpperCase()} ${path}\``,
    '',
    `${operation.summary ?? ''}`,
    '',
    `Operation \`${operation.operationId ?? ''}\`. ${scope ? `Scope: \`${scope}\` (or \`admin\`).` : 'No token needed.'}`,
    '',
  ];
  const rows: string[] = [];
  for (const parameter of operation.parameters ?? [])
    rows.push(
      `| \`${parameter.name}\` | ${parameter.in} | ${parameter.required ? 'yes' : 'no'} | ${describeSchema(parameter.schema)}${parameter.description ? `: ${cell(parameter.description)}` : ''} |`,
    );
  for (const [type, { schema }] of Object.entries(operation.requestBody?.content ?? {})) {
    const component = componentName(schema);
    const fields = fieldRows(document, schema, `body (${type}${component ? `, ${component}` : ''})`);
    if (fields.length === 0) rows.push(`| body | ${type} | yes | ${describeSchema(schema)}${schema.description ? `: ${cell(schema.description)}` : ''} |`);
    rows.push(...fields);
  }
  if (rows.length > 0) lines.push('| name | in | required | schema |', '|---|---|---|---|', ...rows, '');
  const responses = Object.entries(operation.responses ?? {});
  const bodyOf = (content: Record<string, { schema: JsonSchema }>) =>
    Object.entries(content)
      .map(([type, { schema }]) =>
        componentName(schema) !== undefined || schema.type === 'array'
          ? `${type}: ${describeSchema(schema)}`
          : schema.properties !== undefined
            ? `${type}: \`${describeShape(schema)}\``
            : type,
      )
      .join(', ');
  const answer = ([status, response]: [string, { description?: string; content?: Record<string, { schema: JsonSchema }> }]) =>
    `${status}${response.content ? ` (${bodyOf(response.content)})` : ''}`;
  if (responses.length > 0)
    lines.push(
      `Answers: ${responses
        .filter(([status]) => status !== 'default')
        .map(answer)
        .join(', ')}.`,
      '',
    );
  for (const [status, response] of responses.filter(([, response]) => response.content === undefined && response.description))
    lines.push(`- ${status}: ${response.description}`);
  if (responses.some(([, response]) => response.content === undefined && response.description)) lines.push('');
  return lines;
}

/** The server-sent event streams: their frame format and each event type's fields, from the Event component. */
function renderEventStreams(document: OpenApiDocument): string[] {
  const streams = Object.entries(document.paths).filter(([, methods]) =>
    Object.values(methods).some((operation) => Object.values(operation.responses ?? {}).some((response) => response.content?.['text/event-stream'])),
  );
  const event = document.components?.schemas?.['Event'];
  const variants = event?.oneOf ?? event?.anyOf ?? [];
  return [
    '## Event streams',
    '',
    `${streams.map(([path]) => `\`GET ${path}\``).join(' and ')} answer \`text/event-stream\`. After a comment line (\`: cairn events\`),`,
    'each event is one frame: `id:` is the event id (its audit sequence), `event:` its type, `data:` the',
    'event as one line of JSON ([`Event`](#event)), then a blank line:',
    '',
    '```text',
    'id: 42',
    'event: item.state',
    'data: {"id":42,"time":"2026-01-01T00:00:00.000Z","runId":"r-1","type":"item.state","itemId":"build","state":"running"}',
    '```',
    '',
    'A client that reconnects with `Last-Event-ID: <id>` (or `?after=<id>`) gets every event after that id, none twice.',
    "While nothing happens the server sends a comment (`: keep-alive`) every 15 s. A run's stream ends",
    "after the run's terminal `run.state` event (`succeeded`, `failed`, `cancelled`); the server-wide stream",
    'stays open until the client leaves.',
    '',
    '| event | fields |',
    '|---|---|',
    ...variants.map(
      (variant) =>
        `| \`${String(variant.properties?.['type']?.const ?? '')}\` | ${Object.entries(variant.properties ?? {})
          .filter(([name]) => name !== 'type')
          .map(([name, field]) => `\`${name}\`: ${describeSchema(field)}`)
          .join('; ')} |`,
    ),
    '',
  ];
}

/** The webhooks endpoints receive: their signature headers, payload and how answers are taken. */
function renderWebhooks(document: OpenApiDocument): string[] {
  const webhooks = Object.entries(document.webhooks ?? {});
  const first = webhooks[0]?.[1]['post'];
  if (first === undefined) return [];
  return [
    '## Webhook deliveries',
    '',
    `What a webhook endpoint (\`POST /v1/webhooks\`) receives: a \`POST\` of JSON for each event it subscribes to (${webhooks.map(([type]) => `\`${type}\``).join(', ')}), signed as Standard Webhooks.`,
    '',
    '| name | in | required | schema |',
    '|---|---|---|---|',
    ...(first.parameters ?? []).map(
      (parameter) =>
        `| \`${parameter.name}\` | ${parameter.in} | ${parameter.required ? 'yes' : 'no'} | ${describeSchema(parameter.schema)}: ${cell(parameter.description)} |`,
    ),
    ...Object.entries(first.requestBody?.content ?? {}).flatMap(([type, { schema }]) =>
      fieldRows(document, schema, `body (${type}, ${componentName(schema) ?? 'object'})`),
    ),
    '',
    ...Object.entries(first.responses ?? {}).map(
      ([status, response]) => `- ${status === 'default' ? 'Any other answer' : status}: ${response.description ?? ''}`,
    ),
    '',
  ];
}

/** Every named schema (component) and its fields. */
function renderComponents(document: OpenApiDocument): string[] {
  return [
    '## Schemas',
    '',
    ...Object.entries(document.components?.schemas ?? {}).flatMap(([name, schema]) => {
      const lines = [`### ${name}`, '', schema.description ?? '', ''];
      const choices = schema.oneOf ?? schema.anyOf;
      if (choices)
        lines.push(
          `One of: ${choices.map((choice) => (choice.properties?.['type']?.const !== undefined ? `\`${String(choice.properties['type'].const)}\`` : describeSchema(choice))).join(', ')} (see [Event streams](#event-streams)).`,
          '',
        );
      const rows = fieldRows(document, schema);
      if (rows.length > 0) lines.push('| field | required | schema |', '|---|---|---|', ...rows, '');
      return lines;
    }),
  ];
}

function renderHttpReference(document: OpenApiDocument): string {
  // Grouped by tag, in the document's order of tags.
  const groups = new Map<string, string[]>((document.tags ?? []).map((tag) => [tag.name, []]));
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const group = operation.tags?.[0] ?? 'other';
      groups.set(group, [...(groups.get(group) ?? []), ...renderOperation(document, method, path, operation)]);
    }
  }
  const describe = (group: string) => document.tags?.find((tag) => tag.name === group)?.description;
  return [
    '# HTTP API reference',
    '',
    `The reference server's API, version ${document.info.version}. This page is generated from the`,
    'OpenAPI 3.1 document the server serves at `/openapi.json` and checked by',
    '`apps/server/src/http/http-reference.test.ts`. Generated clients (openapi-typescript, ...) take',
    "their names from it: each operation's `operationId`, and the [schemas](#schemas) as components.",
    '',
    '- **Auth**: every `/v1` operation needs `Authorization: Bearer cairn_...` holding the scope',
    '  it names (`admin` holds them all); 401 without a valid token, 403 without the scope (audited',
    '  as `access.denied`). A server with `server.auth: loopback-operator` (loopback only) needs none',
    "  from its own user's clients outside a browser; a browser always needs one.",
    '- **Browsers**: a request a browser sends for a page of another origin (another site or port, a',
    '  `file://` page), or naming a `Host` the server does not answer to (`server.allowedHosts`), is',
    '  refused with 403 `CAIRN_REQUEST_ORIGIN_REFUSED` before any credential is looked at. Bodies are',
    '  `application/json`, `application/yaml` (run specs) or `application/octet-stream` (blobs) only.',
    '- **Errors**: every error is JSON [`Error`](#error) `{ code, message, action, path?, issues? }` with a',
    '  code from the [catalogue](errors.md) and its status.',
    '- **Limits**: a run spec (a submit, a schedule) up to 34 MiB, an upload (`POST /v1/blobs`) up to',
    '  `server.uploadLimitMiB` (256 MiB by default), a sign-in code 1 KiB, any other body 1 MiB; headers',
    '  up to 16 KiB (431). Connections beyond `server.maxConnections` (at most half the open-files limit)',
    '  are answered 503 `CAIRN_SERVER_BUSY`, a quarter of that many at once; a flood beyond is reset.',
    '  Every answer carries `X-Content-Type-Options: nosniff`; blobs and patches are',
    '  `Content-Disposition: attachment`.',
    '',
    ...[...groups.entries()]
      .filter(([, lines]) => lines.length > 0)
      .flatMap(([group, lines]) => [`## ${group}`, '', ...(describe(group) ? [`${describe(group)}.`, ''] : []), ...lines]),
    ...renderEventStreams(document),
    ...renderWebhooks(document),
    ...renderComponents(document),
  ].join('\n');
}

test('docs/reference/http.md describes exactly the operations of the OpenAPI document', { timeout: 60_000 }, async () => {
  const { base } = await serve();
  const expected = renderHttpReference((await (await fetch(`${base}/openapi.json`)).json()) as OpenApiDocument);
  if (process.env['CAIRN_WRITE_DOCS'] === '1') writeFileSync(referencePath, expected);
  expect(readFileSync(referencePath, 'utf8')).toBe(expected);
});
