// Fuzzing the HTTP API from its own OpenAPI document: for every operation it lists, requests with
// schema-valid and invalid bodies, odd content types, odd Idempotency-Key and Last-Event-ID
// headers, odd query strings and path parameters, with and without a token. Whatever comes in, the
// server never answers 5xx, keeps answering /healthz, and every answer is one the document
// declares, its JSON body valid against the declared schema. And every /v1 operation is refused
// (403) to a token whose scope does not reach it.
import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { runningServers } from './running-server.test-support.ts';

const serve = runningServers();
const runsPerOperation = 30;

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  pattern?: string;
  additionalProperties?: unknown;
};
interface Operation {
  readonly method: string;
  readonly path: string;
  readonly parameters?: { readonly name: string; readonly in: string; readonly schema: JsonSchema }[];
  readonly requestBody?: { readonly content: Record<string, { schema: JsonSchema }> };
  readonly responses: Record<string, { content?: Record<string, { schema: JsonSchema }> }>;
}

/** Values a JSON schema accepts (enough of JSON Schema for what zod emits here). */
function valueOf(schema: JsonSchema): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const choices = schema.anyOf ?? schema.oneOf;
  if (choices) return fc.oneof(...choices.map(valueOf));
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'string':
      if (schema.pattern !== undefined) return fc.stringMatching(new RegExp(schema.pattern));
      return fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 40, 40) });
    case 'integer':
      return fc.integer({ min: Math.max(schema.minimum ?? -1_000, -1_000), max: Math.min(schema.maximum ?? 1_000, 1_000) });
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(schema.items ? valueOf(schema.items) : fc.jsonValue(), { maxLength: 3 });
    case 'object': {
      const properties = schema.properties ?? {};
      if (Object.keys(properties).length === 0) return fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 });
      return fc.record(Object.fromEntries(Object.entries(properties).map(([name, property]) => [name, valueOf(property)])), {
        requiredKeys: schema.required ?? [],
      });
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** The document with each `$ref` to a component replaced by the component, so schemas stand alone. */
function inlineRefs(document: { components: { schemas: Record<string, unknown> } }, value: unknown): unknown {
  if (Array.isArray(value)) return value.map((entry) => inlineRefs(document, entry));
  if (value === null || typeof value !== 'object') return value;
  const reference = (value as { $ref?: unknown }).$ref;
  if (typeof reference === 'string' && reference.startsWith('#/components/schemas/'))
    return inlineRefs(document, document.components.schemas[reference.slice('#/components/schemas/'.length)]);
  return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, inlineRefs(document, entry)]));
}

const printable = fc.string({ unit: fc.constantFrom(...'abcXYZ019-_.:/ %"\'{}'.split('')), maxLength: 30 });
/** Header values fetch can send (Latin-1, no line breaks) but a server may not expect. */
const oddHeader = fc.oneof(
  fc.constant(''),
  printable,
  fc.constant('x'.repeat(5_000)),
  fc.constant('-1'),
  fc.constant('1e309'),
  fc.constant('99999999999999999999999'),
  fc.constant('NaN'),
  fc.constant('0x10'),
);
const contentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'application/yaml',
  'text/plain',
  'application/octet-stream',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'text/html',
  'application/json; charset=latin1',
  'nonsense',
  '',
);
const validSpec = JSON.stringify({ version: 1, name: 'fuzzed', items: [{ id: 'only', runtime: { kind: 'command', argv: ['/bin/true'] } }] });

test(
  `every operation of /openapi.json, ${runsPerOperation} fuzzed requests each: no 5xx, no crash, every answer as the document declares`,
  { timeout: 120_000 },
  async () => {
    const { base, api, composition, operatorToken } = await serve();
    // Real resources, so that some requests reach past "not found".
    const { runId } = (await (await api('/v1/runs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: validSpec })).json()) as {
      runId: string;
    };
    await composition.engine.waitForRun(runId);
    const { digest } = (await (
      await api('/v1/blobs', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array([1, 2, 3]) })
    ).json()) as { digest: string };
    const real: Record<string, string[]> = {
      runId: [runId, 'r-missing'],
      itemId: ['only', 'ghost'],
      digest: [digest, `sha256:${'0'.repeat(64)}`],
      scheduleId: ['nightly'],
      name: ['API_KEY'],
    };

    const served = (await (await fetch(`${base}/openapi.json`)).json()) as { components: { schemas: Record<string, unknown> } };
    const document = inlineRefs(served, served) as { paths: Record<string, Record<string, Omit<Operation, 'method' | 'path'>>> };
    const operations: Operation[] = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({ ...operation, method: method.toUpperCase(), path })),
    );
    expect(operations.length).toBeGreaterThanOrEqual(20);
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const validators = new Map<object, ReturnType<Ajv2020['compile']>>();
    const validatorOf = (schema: JsonSchema) => {
      if (!validators.has(schema)) validators.set(schema, ajv.compile(schema));
      return validators.get(schema)!;
    };
    let answers = 0;

    for (const operation of operations) {
      const pathParameters = (operation.parameters ?? []).filter((parameter) => parameter.in === 'path');
      const bodySchema = operation.requestBody?.content['application/json']?.schema;
      const isStream = operation.path.endsWith('/events');
      const request = fc.record({
        path: fc.record(
          Object.fromEntries(
            pathParameters.map((parameter) => [
              parameter.name,
              fc.oneof(
                fc.constantFrom(...(real[parameter.name] ?? ['x'])),
                valueOf(parameter.schema).map(String),
                fc.string({ maxLength: 300 }),
                fc.constantFrom('..', '%00', '%2F', 'a/b', '🦀', ' ', 'x'.repeat(400)),
              ),
            ]),
          ),
        ),
        query: fc.dictionary(
          fc.constantFrom('after', 'limit', 'x', '__proto__', 'constructor', ''),
          fc.oneof(printable, fc.constant('-1'), fc.constant('1e309')),
          { maxKeys: 3 },
        ),
        contentType: fc.option(contentType, { nil: undefined }),
        idempotencyKey: fc.option(oddHeader, { nil: undefined }),
        lastEventId: fc.option(oddHeader, { nil: undefined }),
        token: fc.constantFrom('operator', 'operator', 'operator', 'none', 'garbage'),
        body: fc.option(
          fc.oneof(
            ...(bodySchema ? [valueOf(bodySchema).map((value) => JSON.stringify(value) ?? 'null')] : []),
            fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value) ?? 'null'),
            fc.string({ maxLength: 200 }),
            fc.constant(validSpec),
            fc.constant('version: 1\nname: yaml\nitems: [{ id: a, runtime: { kind: command, argv: [/bin/true] } }]\n'),
            fc.constant('{"unterminated": '),
            fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
          ),
          { nil: undefined },
        ),
      });
      await fc.assert(
        fc.asyncProperty(request, async (input) => {
          let path = operation.path;
          for (const [name, value] of Object.entries(input.path)) path = path.replace(`{${name}}`, encodeURIComponent(value as string));
          const query = new URLSearchParams(input.query as Record<string, string>).toString();
          const headers: Record<string, string> = {};
          if (input.token === 'operator') headers['authorization'] = `Bearer ${operatorToken}`;
          if (input.token === 'garbage') headers['authorization'] = 'Bearer cairn_000000000000_nope';
          if (input.contentType !== undefined) headers['content-type'] = input.contentType;
          if (input.idempotencyKey !== undefined) headers['idempotency-key'] = input.idempotencyKey;
          if (input.lastEventId !== undefined) headers['last-event-id'] = input.lastEventId;
          const hasBody = input.body !== undefined && operation.method !== 'GET' && operation.method !== 'HEAD';
          const controller = new AbortController();
          const response = await fetch(`${base}${path}${query ? `?${query}` : ''}`, {
            method: operation.method,
            headers,
            ...(hasBody ? { body: input.body! } : {}),
            signal: controller.signal,
          });
          const where = `${operation.method} ${path}?${query} -> ${response.status}`;
          answers++;
          expect(response.status, where).toBeLessThan(500);
          const contentTypeOf = response.headers.get('content-type') ?? '';
          if (isStream && response.status === 200) {
            expect(contentTypeOf, where).toMatch(/^text\/event-stream/);
            controller.abort();
            return;
          }
          const body = await response.text();
          // Every answer is declared, success included, with its media type.
          const declared = operation.responses[String(response.status)] ?? operation.responses[`${String(response.status)[0]}XX`];
          expect(declared, `${where}: undeclared status`).toBeDefined();
          // A HEAD answer is its headers alone, whatever a GET of it would carry.
          if (operation.method === 'HEAD') {
            expect(body, `${where}: a HEAD answer has no body`).toBe('');
            return;
          }
          if (declared!.content === undefined) {
            expect(body, `${where}: no body declared`).toBe('');
            return;
          }
          const mediaType = contentTypeOf.split(';')[0]!.trim();
          expect(Object.keys(declared!.content), `${where}: media type`).toContain(mediaType);
          const schema = declared!.content[mediaType]!.schema;
          // Bytes, text and streams are declared as strings; only JSON documents have a shape to check.
          if (mediaType !== 'application/json' || schema.type === 'string') return;
          expect(contentTypeOf, where).toMatch(/^application\/json/);
          const validate = validatorOf(schema);
          const parsed: unknown = JSON.parse(body);
          expect([where, validate(parsed) ? 'valid' : ajv.errorsText(validate.errors)], body).toEqual([where, 'valid']);
        }),
        { numRuns: runsPerOperation },
      );
    }
    expect(answers).toBeGreaterThanOrEqual(operations.length * runsPerOperation);
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ ok: true });
    expect((await api(`/v1/runs/${runId}`)).status).toBe(200);
  },
);

test('every /v1 operation and /metrics: 403 with a token whose scope does not reach it', { timeout: 60_000 }, async () => {
  const { base, composition } = await serve();
  const document = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, Record<string, { security?: unknown[] }>> };
  // Four /v1 operations take no token at all: exchanging a sign-in code (its body holds the
  // credential), how to sign in (read before a client has a token), a GitHub delivery and a Standard
  // Webhooks one (each signed with its webhook's secret instead).
  const open = Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods)
      .filter(([, operation]) => operation.security?.length === 0)
      .map(([method]) => `${method.toUpperCase()} ${path}`),
  );
  expect(open.filter((operation) => operation.includes(' /v1/'))).toEqual([
    'POST /v1/session/redeem',
    'GET /v1/sign-in',
    'POST /v1/triggers/github',
    'POST /v1/triggers/webhooks/{name}',
    'POST /v1/triggers/linear',
    'POST /v1/triggers/slack',
  ]);
  const operations = Object.entries(document.paths)
    .filter(([path]) => path.startsWith('/v1/') || path === '/metrics')
    .flatMap(([path, methods]) =>
      Object.keys(methods)
        .filter((method) => !open.includes(`${method.toUpperCase()} ${path}`))
        .map((method) => ({
          method: method.toUpperCase(),
          path: path
            .replace('{runId}', 'r-x')
            .replace('{itemId}', 'a')
            .replace('{digest}', `sha256:${'0'.repeat(64)}`)
            .replace('{scheduleId}', 's')
            .replace('{name}', 'N'),
        })),
    );
  // runs:approve reaches only approve and reject; audit:read only the bundle. Between them, every
  // operation is refused to one of the two.
  const approver = (await composition.tokens.create('approver', ['runs:approve'])).token;
  const auditor = (await composition.tokens.create('auditor', ['audit:read'])).token;
  for (const { method, path } of operations) {
    const token = /\/(approve|reject)$/.test(path) ? auditor : approver;
    const response = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
    // A HEAD answer has no body: its status is all it says.
    const code =
      method === 'HEAD' ? (response.status === 403 ? 'CAIRN_FORBIDDEN' : `status ${response.status}`) : ((await response.json()) as { code: string }).code;
    expect([method, path, response.status, code]).toEqual([method, path, 403, 'CAIRN_FORBIDDEN']);
  }
});

test(
  'what the fuzzing found stays fixed: an over-long path parameter and a bad schedule definition are 400s in the error shape',
  { timeout: 60_000 },
  async () => {
    const { api } = await serve();
    const long = await api(`/v1/runs/${'r'.repeat(300)}/items`);
    expect([long.status, await long.json()]).toEqual([
      400,
      expect.objectContaining({ code: 'CAIRN_PAYLOAD_INVALID', path: 'url', action: expect.any(String) }),
    ]);
    // As long as the schema allows (200) reaches the route, which says it does not exist.
    expect((await api(`/v1/runs/${'r'.repeat(200)}`)).status).toBe(404);
    const schedule = await api('/v1/schedules', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        scheduleId: 'nightly',
        cron: 'not cron',
        spec: { version: 1, name: 'x', items: [{ id: 'a', runtime: { kind: 'command', argv: ['/bin/true'] } }] },
      }),
    });
    expect([schedule.status, await schedule.json()]).toEqual([
      400,
      expect.objectContaining({ code: 'CAIRN_PAYLOAD_INVALID', path: 'schedule.cron', issues: [expect.objectContaining({ path: 'schedule.cron' })] }),
    ]);
  },
);
