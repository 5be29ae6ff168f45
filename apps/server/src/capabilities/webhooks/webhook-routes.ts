import { z } from 'zod';
import type { ServerComposition } from '../../composition/server-composition.ts';
import { webhookEventTypes } from './webhook-event-types.ts';
import { webhookUrlProblem } from './webhook-url.ts';
import type { HttpApp } from '../../http/http-app.ts';
import { noContentSchema, webhookDeliverySchema, webhookViewSchema } from '../../http/response-schemas.ts';

const webhookParams = z.strictObject({ webhookId: z.string().min(1).max(64) });

/** Webhook endpoints and their deliveries (`admin` only: an endpoint receives every run's events). */
export function registerWebhookRoutes(app: HttpApp, { webhooks }: ServerComposition): void {
  app.post(
    '/v1/webhooks',
    {
      config: { action: 'webhooks.manage' },
      schema: {
        operationId: 'addWebhook',
        summary: 'Add a webhook endpoint; the answer carries its signing secret (whsec_...), shown once',
        body: z.strictObject({
          url: z
            .string()
            .max(2_048)
            .superRefine((url, context) => {
              const problem = webhookUrlProblem(url);
              if (problem) context.addIssue({ code: 'custom', message: problem });
            }),
          events: z
            .array(z.enum(webhookEventTypes))
            .min(1, 'name at least one event type, or leave events out for all')
            .max(webhookEventTypes.length * 2)
            .optional(),
          runId: z.string().min(1).max(200).optional(),
          description: z.string().max(500).optional(),
        }),
        response: { 201: webhookViewSchema.extend({ secret: z.string() }) },
      },
    },
    async (request, reply) => {
      const { url, events, runId, description } = request.body;
      const added = await webhooks.add(
        { url, ...(events ? { events } : {}), ...(runId ? { runId } : {}), ...(description === undefined ? {} : { description }) },
        request.actor!,
      );
      return reply.status(201).send(added);
    },
  );
  app.get(
    '/v1/webhooks',
    {
      config: { action: 'webhooks.read' },
      schema: { operationId: 'listWebhooks', summary: 'Webhook endpoints (never their secrets)', response: { 200: z.array(webhookViewSchema) } },
    },
    async () => webhooks.list(),
  );
  app.get(
    '/v1/webhooks/:webhookId',
    {
      config: { action: 'webhooks.read' },
      schema: { operationId: 'getWebhook', summary: 'A webhook endpoint', params: webhookParams, response: { 200: webhookViewSchema } },
    },
    async (request) => webhooks.get(request.params.webhookId),
  );
  app.delete(
    '/v1/webhooks/:webhookId',
    {
      config: { action: 'webhooks.manage' },
      schema: {
        operationId: 'deleteWebhook',
        summary: 'Remove a webhook endpoint; its pending deliveries are not sent',
        params: webhookParams,
        response: { 204: noContentSchema },
      },
    },
    async (request, reply) => {
      await webhooks.remove(request.params.webhookId, request.actor!);
      return reply.status(204).send(null);
    },
  );
  app.get(
    '/v1/webhooks/:webhookId/deliveries',
    {
      config: { action: 'webhooks.read' },
      schema: {
        operationId: 'listWebhookDeliveries',
        summary: "A webhook's latest deliveries: status, attempts, last status code or error, next attempt",
        params: webhookParams,
        response: { 200: z.array(webhookDeliverySchema) },
      },
    },
    async (request) => webhooks.deliveries(request.params.webhookId),
  );
}
