import type { SwaggerTransform } from '@fastify/swagger';
import { cairnEventSchema, runSpecV1Schema } from '@cairn/protocol';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { scopeOfAction } from '../capabilities/access/token-scopes.ts';

/** The one security scheme: a bearer token (`cairn_…`) whose scopes allow the operation. */
export const openApiSecurityComponents = {
  securitySchemes: {
    bearerToken: { type: 'http', scheme: 'bearer', description: 'A Cairn token (`cairn token create`); each operation lists the scope it needs.' },
  },
} as const;

/** The document's groups of operations, in the order a reader meets them. */
export const openApiTags = [
  { name: 'runs', description: 'Submit, list, read and cancel runs' },
  { name: 'items', description: "A run's work items: approve, reject, cancel, their patches" },
  { name: 'events', description: 'Run, item and attempt state changes as server-sent events' },
  { name: 'blobs', description: 'Bytes stored by their sha256 digest: snapshots, patches, logs, outputs' },
  { name: 'audit', description: 'The audit log and evidence bundles' },
  { name: 'schedules', description: 'Cron schedules that submit runs' },
  { name: 'secrets', description: 'Write-only secrets that items read as environment variables' },
  { name: 'tokens', description: 'Bearer tokens and their scopes' },
  { name: 'webhooks', description: 'Endpoints that receive events, signed, and their deliveries' },
  { name: 'templates', description: 'Run specs with parameters, submitted by name' },
  { name: 'triggers', description: 'Webhooks of forges (GitHub) that start runs from templates' },
  { name: 'runners', description: 'Hosts that run attempts for the server (cairn runner): listed, drained and resumed' },
  { name: 'operations', description: 'Health, readiness and metrics' },
] as const;

// Documented only, never validated by Fastify: the run spec is checked by the engine (whose
// errors name the JSON path of each problem, and which reads YAML too). Declaring it as a route
// schema would make Fastify refuse bodies itself, with other answers than today's. (The events'
// query, `after` read leniently and `types`, is the routes' own schema: `eventStreamQuery`.)
const runSpecComponent = runSpecV1Schema.meta({
  id: 'RunSpec',
  description: 'A run spec, cairn.run/v1 (see docs/reference/run-spec.md); its item graph is checked on submit',
});
/** Each event of the streams, as the `data:` of its server-sent event. */
export const eventComponent = cairnEventSchema.meta({ id: 'Event', description: 'A state change of a run, an item or an attempt; id is its audit sequence' });
const yamlSpec = z.string().meta({ description: 'The same run spec, as a YAML document' });
const bytes = z.string().meta({ description: 'The bytes to store (a workspace snapshot: a tar archive), as they are' });
const eventHeaders = z.object({
  'last-event-id': z.string().optional().meta({ description: 'The id of the last event received: the stream resumes after it' }),
});

interface DocumentedOnly {
  readonly body?: Record<string, z.ZodType>;
  readonly querystring?: z.ZodType;
  readonly headers?: z.ZodType;
}
const documentedOnly: Record<string, DocumentedOnly> = {
  submitRun: { body: { 'application/json': runSpecComponent, 'application/yaml': yamlSpec } },
  storeBlob: { body: { 'application/octet-stream': bytes.meta({ format: 'binary' }) } },
  streamEvents: { headers: eventHeaders },
  streamRunEvents: { headers: eventHeaders },
};

/** An operation's group: the health routes are `operations`; `/v1/<group>/...` otherwise, a run's items, events and bundle in theirs. */
export function tagOfPath(url: string): string {
  const segments = url.split('/').filter((segment) => segment !== '');
  if (segments[0] !== 'v1') return 'operations';
  if (segments[1] === 'runs' && (segments[3] === 'items' || segments[3] === 'events')) return segments[3];
  if (segments[1] === 'runs' && segments[3] === 'bundle') return 'audit';
  // What a credential may do, and how a person gets one, belong with the tokens and their scopes.
  if (segments[1] === 'session' || segments[1] === 'sign-in') return 'tokens';
  return segments[1] ?? 'operations';
}

/**
 * The zod transform, plus each operation's `security`: the scope its action needs, from the same
 * table that authorizes requests, so the document cannot disagree with the server. Routes without
 * an action (health) are public: `security: []`. OpenAPI 3.1 allows role names in a non-OAuth
 * requirement's list: the scope is written there. Also each operation's tag, and the bodies and
 * parameters routes read themselves (`documentedOnly`).
 */
export const transformWithScopes: SwaggerTransform = (input) => {
  const schema = (input.schema ?? {}) as { operationId?: string; headers?: unknown };
  const extra = schema.operationId === undefined ? undefined : documentedOnly[schema.operationId];
  const bodies = extra?.body;
  const withExtra =
    extra === undefined
      ? input.schema
      : {
          ...input.schema,
          ...(extra.querystring ? { querystring: extra.querystring } : {}),
          ...(extra.headers && !schema.headers ? { headers: extra.headers } : {}),
        };
  const transformed = jsonSchemaTransform({ ...input, schema: withExtra } as Parameters<typeof jsonSchemaTransform>[0]);
  if (transformed.schema.hide === true) return transformed;
  const action = (input.route.config as { action?: string } | undefined)?.action;
  const scope = action === undefined ? undefined : scopeOfAction[action];
  const body =
    bodies === undefined
      ? {}
      : {
          body: {
            content: Object.fromEntries(
              Object.entries(bodies).map(([mediaType, bodySchema]) => [
                mediaType,
                { schema: jsonSchemaTransform({ ...input, schema: { body: bodySchema } } as Parameters<typeof jsonSchemaTransform>[0]).schema.body },
              ]),
            ),
          },
        };
  const security = action === undefined ? [] : [{ bearerToken: scope === undefined ? [] : [scope] }];
  // A HEAD route declared in its own right (not a GET's echo) keeps its operationId: the plugin
  // suffixes it with `-head`, which only a GET's automatic HEAD twin needs.
  const operationId = (transformed.schema as { operationId?: string }).operationId;
  const ownHead = input.route.method === 'HEAD' && operationId?.endsWith('-head') === true ? { operationId: operationId.slice(0, -'-head'.length) } : {};
  return { ...transformed, schema: { ...transformed.schema, ...body, ...ownHead, tags: [tagOfPath(input.url)], security } };
};
