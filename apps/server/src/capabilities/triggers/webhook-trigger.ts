import type { AuditActor } from '@cairn/core';
import type { EngineService } from '@cairn/engine';
import { CairnError } from '@cairn/protocol';
import { valueAtPointer } from './json-pointer.ts';
import type { RunTemplates } from './run-templates.ts';
import type { SeenDeliveries } from './seen-deliveries.ts';
import { standardWebhookKey, standardWebhookProblem, type StandardWebhookHeaders } from './standard-webhook-signature.ts';
import type { StandardWebhookConfig } from './trigger-config-schema.ts';
import { auditingRefusals, submitTriggeredRun } from './triggered-run.ts';
import { UnverifiedDenials } from './unverified-denials.ts';

/** What a delivery came to: a run started, or a replay of one already handled (nothing ran). */
export type WebhookDeliveryResult =
  { readonly duplicate: false; readonly runId: string; readonly template: string; readonly created: boolean } | { readonly duplicate: true };

/** Who refusals of a delivery nobody has proven to have sent are audited as. */
const unverifiedSender: AuditActor = { kind: 'system', id: 'unverified-webhook-delivery', via: 'http' };
const requestedAction = 'triggers.webhook';
/** The longest value a parameter takes from a payload: as long as `POST /v1/templates/{name}/runs` takes one. */
const parameterValueMaxLength = 65_536;

/**
 * Standard Webhooks deliveries (`triggers.webhooks` of the config) into runs. For the webhook
 * named in the path, in order: the delivery must be signed with its secret (`webhook-signature`,
 * an HMAC-SHA256 of `id.timestamp.body`, compared in constant time) and sent within its tolerance
 * (`webhook-timestamp`, either side) — otherwise refused and audited, at most 10 a minute across
 * all webhooks; its `webhook-id` is claimed once in the durable store the GitHub trigger uses (a
 * replay answers `duplicate` and runs nothing); its JSON payload gives the template's parameters
 * by the configured JSON pointers; then the template is filled, checked and submitted as the
 * system actor `webhook:NAME`. Every refusal after the signature is audited too, naming the
 * webhook and why; nothing runs on any refusal.
 */
export class WebhookTriggers {
  readonly #webhooks: Readonly<Record<string, StandardWebhookConfig>>;
  readonly #templates: RunTemplates;
  readonly #seen: SeenDeliveries;
  readonly #service: EngineService;
  readonly #secret: (name: string, option: string) => Promise<string>;
  readonly #now: () => number;
  readonly #unverified: UnverifiedDenials;

  constructor(options: {
    readonly webhooks: Readonly<Record<string, StandardWebhookConfig>>;
    readonly templates: RunTemplates;
    readonly seen: SeenDeliveries;
    readonly service: EngineService;
    /** A server secret's value; `option` names the config option that names it, for the error. */
    readonly secret: (name: string, option: string) => Promise<string>;
    readonly now?: () => number;
  }) {
    this.#webhooks = options.webhooks;
    this.#templates = options.templates;
    this.#seen = options.seen;
    this.#service = options.service;
    this.#secret = options.secret;
    this.#now = options.now ?? Date.now;
    this.#unverified = new UnverifiedDenials((reason) => this.#deny(unverifiedSender, 'triggers/webhooks', reason));
  }

  names(): string[] {
    return Object.keys(this.#webhooks);
  }

  async handle(name: string, body: Uint8Array, headers: StandardWebhookHeaders): Promise<WebhookDeliveryResult> {
    const webhook = Object.hasOwn(this.#webhooks, name) ? this.#webhooks[name] : undefined;
    if (webhook === undefined)
      throw new CairnError(
        'CAIRN_NOT_FOUND',
        // The names are not listed: anyone may post here, and they would learn where to aim.
        `There is no webhook ${JSON.stringify(name.slice(0, 64))} on this server; webhooks are configured under triggers.webhooks in its config, which names them.`,
        { path: 'name' },
      );
    const option = `config.triggers.webhooks.${name}.secret`;
    const key = standardWebhookKey(await this.#secret(webhook.secret, option));
    if (key === undefined)
      throw new CairnError(
        'CAIRN_CONFIG_INVALID',
        `${option} names the server secret ${webhook.secret}, which does not hold a Standard Webhooks secret (whsec_ and base64): \`cairn secret set ${webhook.secret}\` with the secret the sender shows.`,
        { path: option },
      );
    const problem = standardWebhookProblem(key, headers, body, webhook.toleranceSeconds, this.#now());
    if (problem !== undefined) {
      await this.#unverified.deny(`webhook ${name}: ${problem}`);
      throw new CairnError('CAIRN_UNAUTHENTICATED', `Refused: ${problem}.`, {
        path: problem.startsWith('webhook-timestamp') ? 'webhook-timestamp' : problem.startsWith('webhook-id') ? 'webhook-id' : 'webhook-signature',
        action: `Sign each delivery per the Standard Webhooks specification with the secret held in the server secret ${webhook.secret}, and send it within ${webhook.toleranceSeconds} s of signing it (check both clocks).`,
      });
    }
    const id = headers.id!;
    const actor: AuditActor = { kind: 'system', id: `webhook:${name}`, via: 'http' };
    const result = await this.#seen.handleOnce(`webhooks/${name}:${id}`, () =>
      auditingRefusals(
        (reason) => this.#deny(actor, `triggers/webhooks/${name}`, reason),
        async () => {
          const parameters = this.#parametersOf(name, webhook, body);
          const submitted = await submitTriggeredRun(this.#templates, this.#service, {
            template: webhook.template,
            parameters,
            actor,
            idempotencyKey: `webhooks/${name}:${id}`,
          });
          return { duplicate: false as const, runId: submitted.runId, template: webhook.template, created: submitted.created };
        },
      ),
    );
    return result ?? { duplicate: true };
  }

  /** The template's parameters from the payload, by the webhook's pointers; a required one the payload lacks is refused here, naming both. */
  #parametersOf(name: string, webhook: StandardWebhookConfig, body: Uint8Array): Record<string, string> {
    let payload: unknown;
    try {
      payload = JSON.parse(Buffer.from(body).toString('utf8'));
    } catch {
      throw new CairnError('CAIRN_PAYLOAD_INVALID', `The delivery to webhook ${name} is not JSON; its parameters are read from a JSON payload.`, {
        path: 'body',
        action: `Send a JSON body (content-type application/json), signed as sent; config.triggers.webhooks.${name}.parameters names where in it each parameter is read.`,
      });
    }
    const defaults = new Map(
      this.#templates
        .list()
        .find((template) => template.name === webhook.template)
        ?.parameters.map((parameter) => [parameter.name, parameter.default]) ?? [],
    );
    const parameters: Record<string, string> = {};
    for (const [parameter, pointer] of Object.entries(webhook.parameters)) {
      const value = valueAtPointer(payload, pointer);
      const text = value === undefined ? undefined : typeof value === 'string' ? value : JSON.stringify(value);
      if (text !== undefined && text.length > parameterValueMaxLength)
        throw new CairnError(
          'CAIRN_PAYLOAD_INVALID',
          `The delivery to webhook ${name} has ${text.length} characters at ${JSON.stringify(pointer)}, more than the ${parameterValueMaxLength} the template ${webhook.template}'s parameter ${parameter} takes.`,
          {
            path: `body${pointer.replaceAll('/', '.')}`,
            action: `Send at most ${parameterValueMaxLength} characters at ${pointer} (a long text is better fetched by the run than carried in its parameters).`,
          },
        );
      if (text !== undefined) parameters[parameter] = text;
      else if (defaults.get(parameter) === undefined)
        throw new CairnError(
          'CAIRN_PAYLOAD_INVALID',
          `The delivery to webhook ${name} has nothing at ${JSON.stringify(pointer)}, where the template ${webhook.template} takes its parameter ${parameter} (it has no default).`,
          {
            path: `body${pointer.replaceAll('/', '.')}`,
            action: `Send ${pointer} in the payload, or give the parameter ${parameter} a default in templates.${webhook.template}.`,
          },
        );
    }
    return parameters;
  }

  async #deny(actor: AuditActor, entity: string, reason: string): Promise<void> {
    await this.#service.hostAudit.accessDenied({ actor, entity: { kind: 'server', id: entity }, requestedAction, reason });
  }
}
