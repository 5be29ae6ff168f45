import type { SwaggerOptions } from '@fastify/swagger';
import { jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { openApiWebhooks } from './openapi-webhooks.ts';

type TransformObject = NonNullable<Extract<SwaggerOptions, { transformObject?: unknown }>['transformObject']>;
const prefix = '#/components/schemas/';

/**
 * The zod components (schemas registered with an `id`: Run, Item, RunSpec, ...), each under its
 * own name. The zod transform writes every named schema twice, as `Name` (answers) and
 * `NameInput` (requests); where the two are the same, or only the input is used, one `Name` is
 * kept, so generated clients get one `Run`, one `RunSpec`. Also the document's `webhooks`: what
 * endpoints receive, which refers to the components.
 */
export const transformComponents: TransformObject = (input) => {
  const document = jsonSchemaTransformObject(input as Parameters<typeof jsonSchemaTransformObject>[0]) as {
    components?: { schemas?: Record<string, unknown> };
  };
  const schemas = { ...document.components?.schemas };
  const renames = new Map<string, string>();
  for (const name of Object.keys(schemas)) {
    if (!name.endsWith('Input')) continue;
    const base = name.slice(0, -'Input'.length);
    if (schemas[base] === undefined || JSON.stringify(schemas[base]) === JSON.stringify(schemas[name]).replaceAll(`Input"`, '"')) renames.set(name, base);
  }
  for (const [from, to] of renames) {
    schemas[to] ??= schemas[from];
    delete schemas[from];
  }
  const text = JSON.stringify({ ...document, webhooks: openApiWebhooks, components: { ...document.components, schemas } }, (_key, value: unknown) => {
    if (typeof value === 'string' && value.startsWith(prefix)) return `${prefix}${renames.get(value.slice(prefix.length)) ?? value.slice(prefix.length)}`;
    return value;
  });
  return JSON.parse(text) as ReturnType<TransformObject>;
};
