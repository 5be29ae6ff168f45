import { z } from 'zod';
import { webhookEventTypes } from '../capabilities/webhooks/webhook-event-types.ts';
import { eventComponent } from './openapi-scopes.ts';
import { modelSpendViewSchema } from './response-schemas.ts';

/**
 * What a webhook endpoint receives (webhook-store.ts builds it): the event's type and time, and
 * the event itself. A named component, so the document's `webhooks` and generated clients share it.
 */
export const webhookPayloadSchema = z
  .strictObject({
    type: z.enum(webhookEventTypes).meta({ description: "The event's type (data.type)" }),
    timestamp: z.string().meta({ description: "The event's time (data.time), ISO 8601" }),
    data: eventComponent,
    spend: modelSpendViewSchema.optional().meta({
      description: "run.state deliveries of a run that ended or awaits a budget raise, when its agents called models: what the run's model calls spent",
    }),
  })
  .meta({ id: 'WebhookPayload', description: 'A webhook delivery body (Standard Webhooks): the event type, its time, and the event' });

// The three Standard Webhooks headers sign-webhook.ts writes on every attempt.
const signatureHeaders = [
  { name: 'webhook-id', description: 'The delivery id (msg_...): the same on every retry of one delivery, so a receiver can drop duplicates' },
  { name: 'webhook-timestamp', description: 'Unix seconds of this attempt; refuse messages far from now (replays)' },
  {
    name: 'webhook-signature',
    description:
      'v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>" keyed with the endpoint secret (whsec_...)>; verifyWebhook in @cairn/server checks it',
  },
].map(({ name, description }) => ({ name, in: 'header', required: true, description, schema: { type: 'string' } }));

const operationIds: Record<(typeof webhookEventTypes)[number], string> = {
  'run.state': 'runStateWebhook',
  'item.state': 'itemStateWebhook',
  'attempt.state': 'attemptStateWebhook',
};

/**
 * The OpenAPI 3.1 `webhooks`: one POST per event type an endpoint may subscribe to, signed, with
 * the payload's schema. A 2xx answer (within the timeout, 10 s by default) delivers it; 410 Gone
 * disables the endpoint; anything else is retried on the schedule of retry-schedule.ts.
 */
export const openApiWebhooks = Object.fromEntries(
  webhookEventTypes.map((type) => [
    type,
    {
      post: {
        operationId: operationIds[type],
        summary: `A ${type} event, delivered to each endpoint subscribed to it`,
        tags: ['webhooks'],
        security: [],
        parameters: signatureHeaders,
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/WebhookPayload' } } } },
        responses: {
          '2XX': { description: 'Delivered (an answer within the timeout, 10 s by default)' },
          '410': { description: 'Gone: the endpoint is disabled and nothing more is sent to it' },
          default: {
            description:
              'Not delivered (or no answer in time): retried after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (±20 %), then the delivery fails; the same webhook-id each time',
          },
        },
      },
    },
  ]),
);
