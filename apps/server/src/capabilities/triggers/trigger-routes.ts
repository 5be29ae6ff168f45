import { CairnError } from '@cairn/protocol';
import { z } from 'zod';
import type { ServerComposition } from '../../composition/server-composition.ts';
import { assertTakeOverGranted } from '../delivery/branch-ownership.ts';
import { registerLinearAndSlackRoutes } from './linear-slack-routes.ts';
import { submitFilled } from './run-templates.ts';
import { templateParameterName } from './trigger-config-schema.ts';
import type { HttpApp } from '../../http/http-app.ts';
import { submitResultSchema } from '../../http/response-schemas.ts';

const templateParams = z.strictObject({ name: z.string().min(1).max(64) });

const templateViewSchema = z
  .strictObject({
    name: z.string(),
    description: z.string().optional(),
    parameters: z.array(z.strictObject({ name: z.string(), required: z.boolean(), default: z.string().optional(), description: z.string().optional() })),
  })
  .meta({ id: 'RunTemplate', description: "A run template of the server's config: a run spec with {{ name }} placeholders, and its parameters (all strings)" });

const githubDeliverySchema = z
  .strictObject({
    duplicate: z.boolean().meta({ description: 'True when this delivery id was handled before: nothing ran this time' }),
    runId: z.string().optional().meta({ description: 'The run the delivery started' }),
    template: z.string().optional(),
    created: z.boolean().optional(),
    ignored: z.string().optional().meta({ description: 'Why the delivery starts no run (another event, action, label or comment)' }),
  })
  .meta({ id: 'GithubDeliveryResult', description: 'What a GitHub delivery came to: a run, nothing (ignored, and why), or a replay (duplicate)' });

const webhookDeliverySchema = z
  .strictObject({
    duplicate: z.boolean().meta({ description: 'True when this webhook-id was handled before: nothing ran this time' }),
    runId: z.string().optional().meta({ description: 'The run the delivery started' }),
    template: z.string().optional(),
    created: z.boolean().optional(),
  })
  .meta({ id: 'WebhookDeliveryResult', description: 'What a Standard Webhooks delivery came to: a run, or a replay (duplicate)' });

/**
 * Run templates (`GET /v1/templates`, `POST /v1/templates/{name}/runs`), the GitHub trigger
 * (`POST /v1/triggers/github`) and Standard Webhooks (`POST /v1/triggers/webhooks/{name}`). The
 * triggers take no token: the sender signs each delivery with the webhook's secret instead, and it
 * is checked against the raw bytes, so their JSON is parsed (in a context of their own) only after
 * the signature is.
 */
export async function registerTriggerRoutes(app: HttpApp, { triggers, service }: ServerComposition): Promise<void> {
  app.get(
    '/v1/templates',
    {
      config: { action: 'templates.read' },
      schema: {
        operationId: 'listTemplates',
        summary: 'The run templates of the server, and their parameters',
        response: { 200: z.array(templateViewSchema) },
      },
    },
    async () => triggers.templates.list(),
  );
  app.post(
    '/v1/templates/:name/runs',
    {
      config: { action: 'runs.submit' },
      schema: {
        operationId: 'submitTemplateRun',
        summary:
          'Submit a run from a template, its parameters given as strings; each is put into the spec as a string value, never into its text. Idempotency-Key makes it safe to retry',
        params: templateParams,
        headers: z.object({ 'idempotency-key': z.string().min(1).max(200).optional() }).passthrough(),
        body: z.strictObject({
          parameters: z.record(z.string().regex(templateParameterName, 'must be a parameter name (issue.title)').max(200), z.string().max(65_536)).default({}),
        }),
        response: { 200: submitResultSchema, 201: submitResultSchema },
      },
    },
    async (request, reply) => {
      const filled = triggers.templates.fill(request.params.name, request.body.parameters);
      const key = request.headers['idempotency-key'];
      const result = await submitFilled(filled, async (document) => {
        await assertTakeOverGranted(document, request.mayTakeOverBranches, { actor: request.actor!, hostAudit: service.hostAudit });
        return service.submit(document, {
          actor: request.actor!,
          source: `template ${filled.template}`,
          secretGrants: request.secretGrants ?? [],
          ...(typeof key === 'string' ? { idempotencyKey: key } : {}),
        });
      });
      return reply.status(result.created ? 201 : 200).send(result);
    },
  );
  await app.register(async (github) => {
    // The body as GitHub sent it: its signature is of these bytes, not of any re-serialization.
    github.removeAllContentTypeParsers();
    github.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    github.post(
      '/v1/triggers/github',
      {
        schema: {
          operationId: 'receiveGithubDelivery',
          summary:
            'A GitHub webhook delivery, signed with X-Hub-Signature-256: a labelled issue or a /cairn run comment by someone with write access starts a run from a template; with triggers.github.reviewLoop, a review, a mention of its handle or a failed check (pull_request_review, pull_request_review_comment, issue_comment, check_run, workflow_run) on a pull request Cairn delivered starts a follow-up run',
          headers: z
            .object({
              'x-hub-signature-256': z.string().max(200).optional().meta({ description: 'sha256= and the HMAC-SHA256 of the body with the webhook secret' }),
              'x-github-event': z.string().max(100).optional(),
              'x-github-delivery': z.string().max(100).optional(),
            })
            .passthrough(),
          response: { 200: githubDeliverySchema, 201: githubDeliverySchema },
        },
      },
      async (request, reply) => {
        const trigger = triggers.github;
        if (trigger === undefined)
          throw new CairnError('CAIRN_NOT_FOUND', 'GitHub triggers are not configured on this server: add triggers.github to its config.', {
            path: 'config.triggers.github',
          });
        if (!Buffer.isBuffer(request.body))
          throw new CairnError('CAIRN_PAYLOAD_INVALID', 'The GitHub delivery is not application/json; Cairn reads only JSON deliveries.', {
            path: 'body',
            action: "Set the GitHub webhook's content type to application/json (its Settings → Webhooks page), then redeliver from Recent Deliveries.",
          });
        const header = (name: string) => {
          const value = request.headers[name];
          return typeof value === 'string' ? value : undefined;
        };
        const result = await trigger.handle(request.body, {
          signature: header('x-hub-signature-256'),
          event: header('x-github-event'),
          deliveryId: header('x-github-delivery'),
        });
        return reply.status('runId' in result && result.created ? 201 : 200).send(result);
      },
    );
    github.post(
      '/v1/triggers/webhooks/:name',
      {
        schema: {
          operationId: 'receiveWebhookDelivery',
          summary:
            "A delivery signed per the Standard Webhooks specification (webhook-id, webhook-timestamp, webhook-signature) with the secret of the webhook triggers.webhooks.{name}: starts a run from that webhook's template, its parameters taken from the JSON payload",
          params: z.strictObject({ name: z.string().min(1).max(64) }),
          headers: z
            .object({
              'webhook-id': z.string().max(256).optional().meta({ description: "The message's id: a replayed id runs nothing" }),
              'webhook-timestamp': z
                .string()
                .max(20)
                .optional()
                .meta({ description: 'When it was signed, in seconds since 1970 (within 5 minutes by default)' }),
              'webhook-signature': z
                .string()
                .max(2_000)
                .optional()
                .meta({ description: 'v1, and the base64 HMAC-SHA256 of "id.timestamp.body" with the secret; several separated by spaces' }),
            })
            .passthrough(),
          response: { 200: webhookDeliverySchema, 201: webhookDeliverySchema },
        },
      },
      async (request, reply) => {
        const webhooks = triggers.webhooks;
        if (webhooks === undefined)
          throw new CairnError('CAIRN_NOT_FOUND', 'Webhook triggers are not configured on this server: add triggers.webhooks to its config.', {
            path: 'config.triggers.webhooks',
          });
        if (!Buffer.isBuffer(request.body))
          throw new CairnError('CAIRN_PAYLOAD_INVALID', 'The delivery is not application/json; Standard Webhooks deliveries are JSON.', {
            path: 'body',
            action: 'Send the delivery with content-type application/json, as the Standard Webhooks specification does.',
          });
        const header = (name: string) => {
          const value = request.headers[name];
          return typeof value === 'string' ? value : undefined;
        };
        // This context has no type provider (it parses no JSON): the params schema above checked the name.
        const { name } = request.params as { readonly name: string };
        const result = await webhooks.handle(name, request.body, {
          id: header('webhook-id'),
          timestamp: header('webhook-timestamp'),
          signature: header('webhook-signature'),
        });
        return reply.status('runId' in result && result.created ? 201 : 200).send(result);
      },
    );
  });
  await registerLinearAndSlackRoutes(app, triggers);
}
