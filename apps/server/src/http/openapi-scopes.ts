import type { SwaggerTransform } from '@fastify/swagger';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { scopeOfAction } from '../auth/token-scopes.ts';

/** The one security scheme: a bearer token (`cairn_…`) whose scopes allow the operation. */
export const openApiSecurityComponents = {
  securitySchemes: { bearerToken: { type: 'http', scheme: 'bearer', description: 'A Cairn token (`cairn token create`); each operation lists the scope it needs.' } },
} as const;

/**
 * The zod transform, plus each operation's `security`: the scope its action needs, from the same
 * table that authorizes requests, so the document cannot disagree with the server. Routes without
 * an action (health, the document itself) are public and carry none. OpenAPI 3.1 allows role
 * names in a non-OAuth requirement's list: the scope is written there.
 */
export const transformWithScopes: SwaggerTransform = (input) => {
  const transformed = jsonSchemaTransform(input as Parameters<typeof jsonSchemaTransform>[0]);
  const action = (input.route.config as { action?: string } | undefined)?.action;
  if (action === undefined) return transformed;
  const scope = scopeOfAction[action];
  return { ...transformed, schema: { ...transformed.schema, security: [{ bearerToken: scope === undefined ? [] : [scope] }] } };
};
