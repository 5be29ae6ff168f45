import { z } from 'zod';
import type { ServerComposition } from '../composition/server-composition.ts';
import type { HttpApp } from './http-app.ts';
import { noContentSchema, secretViewSchema } from './response-schemas.ts';

/** Secrets: names and versions are listed, values are write-only (`admin` to change). */
export function registerSecretRoutes(app: HttpApp, { service }: ServerComposition): void {
  app.get(
    '/v1/secrets',
    {
      config: { action: 'secrets.read' },
      schema: { operationId: 'listSecrets', summary: 'Secret names and versions (values are never read back)', response: { 200: z.array(secretViewSchema) } },
    },
    async () => service.secrets(),
  );
  app.put(
    '/v1/secrets/:name',
    {
      config: { action: 'secrets.manage' },
      schema: {
        operationId: 'setSecret',
        summary: 'Set a secret (write-only; stored encrypted, bound to its name)',
        params: z.strictObject({ name: z.string().min(1).max(128) }),
        body: z.strictObject({ value: z.string().min(1).max(65_536) }),
        response: { 200: secretViewSchema },
      },
    },
    async (request) => service.setSecret(request.params.name, request.body.value, request.actor!),
  );
  app.delete(
    '/v1/secrets/:name',
    {
      config: { action: 'secrets.manage' },
      schema: {
        operationId: 'deleteSecret',
        summary: 'Remove a secret',
        params: z.strictObject({ name: z.string().min(1).max(128) }),
        response: { 204: noContentSchema },
      },
    },
    async (request, reply) => {
      await service.removeSecret(request.params.name, request.actor!);
      return reply.status(204).send(null);
    },
  );
}
