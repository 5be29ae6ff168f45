import { CairnError } from '@cairn/protocol';
import { z } from 'zod';
import type { HttpApp } from '../../http/http-app.ts';
import type { ServerTriggers } from './compose-triggers.ts';

const linearDeliverySchema = z
  .strictObject({
    duplicate: z.boolean().meta({ description: 'True when this Linear-Delivery id was handled before: nothing ran this time' }),
    runId: z.string().optional().meta({ description: 'The run the delivery started' }),
    template: z.string().optional(),
    created: z.boolean().optional(),
    ignored: z.string().optional().meta({ description: 'Why the delivery starts no run (another event, or no configured label or assignee)' }),
  })
  .meta({ id: 'LinearDeliveryResult', description: 'What a Linear delivery came to: a run, nothing (ignored, and why), or a replay (duplicate)' });

const slackRequestSchema = z
  .strictObject({
    duplicate: z.boolean().meta({ description: 'True when this trigger_id or event_id was handled before: nothing ran this time' }),
    runId: z.string().optional().meta({ description: 'The run the request started' }),
    template: z.string().optional(),
    created: z.boolean().optional(),
    ignored: z.string().optional().meta({ description: 'Why the request starts no run' }),
    challenge: z.string().optional().meta({ description: "A url_verification request's challenge, answered as Slack asks" }),
    response_type: z.literal('ephemeral').optional().meta({ description: 'For a slash command: the answer is shown only to the person who typed it' }),
    text: z.string().optional().meta({ description: 'For a slash command: the message Slack shows them at once' }),
  })
  .meta({
    id: 'SlackRequestResult',
    description: 'What a Slack request came to, in the shape Slack reads: a run, nothing (ignored), a replay, or a challenge answered',
  });

/**
 * `POST /v1/triggers/linear` and `POST /v1/triggers/slack`. Like the other triggers they take no
 * token: each request is signed by the sender, checked against its raw bytes, so bodies are kept as
 * bytes (in a context of their own) and parsed only once the signature is.
 */
export async function registerLinearAndSlackRoutes(app: HttpApp, triggers: ServerTriggers): Promise<void> {
  await app.register(async (signed) => {
    signed.removeAllContentTypeParsers();
    signed.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    signed.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    signed.post(
      '/v1/triggers/linear',
      {
        schema: {
          operationId: 'receiveLinearDelivery',
          summary:
            "A Linear webhook delivery (Issues), signed with Linear-Signature and sent within triggers.linear.toleranceSeconds of its webhookTimestamp: an issue given a label of triggers.linear.labels, or assigned to a user of triggers.linear.assignees, starts a run from that template; the run's end is commented on the issue",
          headers: z
            .object({
              'linear-signature': z.string().max(200).optional().meta({ description: 'The hex HMAC-SHA256 of the body with the webhook signing secret' }),
              'linear-delivery': z.string().max(100).optional().meta({ description: "The delivery's id: a replayed id runs nothing" }),
              'linear-event': z.string().max(100).optional(),
            })
            .passthrough(),
          response: { 200: linearDeliverySchema, 201: linearDeliverySchema },
        },
      },
      async (request, reply) => {
        const linear = triggers.linear;
        if (linear === undefined)
          throw new CairnError('CAIRN_NOT_FOUND', 'Linear triggers are not configured on this server: add triggers.linear to its config.', {
            path: 'config.triggers.linear',
          });
        if (!Buffer.isBuffer(request.body) || !isContentType(request.headers['content-type'], 'application/json'))
          throw new CairnError('CAIRN_PAYLOAD_INVALID', 'The Linear delivery is not application/json, as Linear sends its webhooks.', { path: 'body' });
        const result = await linear.handle(request.body, {
          signature: header(request.headers, 'linear-signature'),
          deliveryId: header(request.headers, 'linear-delivery'),
        });
        return reply.status('runId' in result && result.created ? 201 : 200).send(result);
      },
    );
    signed.post(
      '/v1/triggers/slack',
      {
        schema: {
          operationId: 'receiveSlackRequest',
          summary:
            "A Slack app's slash command (form-encoded) or Events API callback (JSON), signed with X-Slack-Signature and X-Slack-Request-Timestamp: answers url_verification; a command of triggers.slack.commands, or an app_mention when triggers.slack.mention is set, starts a run at once (answered within Slack's 3 s), and its end is posted to the channel",
          headers: z
            .object({
              'x-slack-signature': z
                .string()
                .max(200)
                .optional()
                .meta({ description: 'v0= and the hex HMAC-SHA256 of "v0:timestamp:body" with the signing secret' }),
              'x-slack-request-timestamp': z
                .string()
                .max(20)
                .optional()
                .meta({ description: 'When Slack sent it, in seconds since 1970 (within 5 minutes by default)' }),
            })
            .passthrough(),
          response: { 200: slackRequestSchema },
        },
      },
      async (request, reply) => {
        const slack = triggers.slack;
        if (slack === undefined)
          throw new CairnError('CAIRN_NOT_FOUND', 'Slack triggers are not configured on this server: add triggers.slack to its config.', {
            path: 'config.triggers.slack',
          });
        const contentType = request.headers['content-type'];
        const kind = isContentType(contentType, 'application/x-www-form-urlencoded')
          ? 'form'
          : isContentType(contentType, 'application/json')
            ? 'json'
            : undefined;
        if (!Buffer.isBuffer(request.body) || kind === undefined)
          throw new CairnError('CAIRN_PAYLOAD_INVALID', 'The Slack request is neither form-encoded (a slash command) nor JSON (an Events API callback).', {
            path: 'body',
          });
        // Slack wants 200 for everything it should not retry: a run started, a replay, a challenge.
        const result = await slack.handle(request.body, kind, {
          signature: header(request.headers, 'x-slack-signature'),
          timestamp: header(request.headers, 'x-slack-request-timestamp'),
        });
        return reply.status(200).send(result);
      },
    );
  });
}

function header(headers: Readonly<Record<string, string | string[] | undefined>>, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}

function isContentType(value: string | undefined, wanted: string): boolean {
  return value?.split(';', 1)[0]?.trim().toLowerCase() === wanted;
}
