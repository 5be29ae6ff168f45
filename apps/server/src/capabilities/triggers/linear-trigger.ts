import type { AuditActor } from '@cairn/core';
import type { EngineService } from '@cairn/engine';
import { CairnError } from '@cairn/protocol';
import { linearSignatureProblem, linearTimestampProblem } from './linear-signature.ts';
import type { LinearTriggerConfig } from './linear-trigger-config-schema.ts';
import type { RunTemplates } from './run-templates.ts';
import type { SeenDeliveries } from './seen-deliveries.ts';
import { auditingRefusals, submitTriggeredRun } from './triggered-run.ts';
import { UnverifiedDenials } from './unverified-denials.ts';

/** What a Linear delivery came to: a run, nothing to do (and why), or a replay of one already handled. */
export type LinearDeliveryResult =
  | { readonly duplicate: false; readonly runId: string; readonly template: string; readonly created: boolean }
  | { readonly duplicate: false; readonly ignored: string }
  | { readonly duplicate: true };

/** The headers of a Linear delivery the trigger reads. */
export interface LinearDeliveryHeaders {
  readonly signature: string | undefined;
  readonly deliveryId: string | undefined;
}

/** Who every run a Linear delivery starts is submitted as (the person who labelled or assigned is in the run's labels): the replies find its runs by it. */
export const linearActor: AuditActor = { kind: 'system', id: 'linear', via: 'http' };
const unverifiedSender: AuditActor = { kind: 'system', id: 'unverified-linear-delivery', via: 'http' };
const triggerEntity = { kind: 'server', id: 'triggers/linear' } as const;
const requestedAction = 'triggers.linear';

/** The fields of Linear's Issue webhook payload (`IssueWebhookPayload` of its schema) the trigger reads. */
interface LinearIssueDelivery {
  readonly action?: unknown;
  readonly type?: unknown;
  readonly webhookTimestamp?: unknown;
  readonly actor?: { readonly id?: unknown; readonly name?: unknown };
  readonly data?: {
    readonly id?: unknown;
    readonly identifier?: unknown;
    readonly title?: unknown;
    readonly description?: unknown;
    readonly url?: unknown;
    readonly assigneeId?: unknown;
    readonly labels?: readonly { readonly id?: unknown; readonly name?: unknown }[];
  };
  readonly updatedFrom?: { readonly labelIds?: unknown; readonly assigneeId?: unknown };
}

/**
 * Linear webhook deliveries (`triggers.linear`) into runs. In order: `Linear-Signature` (the hex
 * HMAC-SHA256 of the raw body with the signing secret, in constant time), then the signed body's
 * `webhookTimestamp` within the tolerance — either refused and audited (at most 10 a minute); the
 * `Linear-Delivery` id, claimed once in the durable store the other triggers use (a replay answers
 * `duplicate`); then the event: an Issue created with, or updated to have, a label of `labels`, or
 * assigned (created or updated) to a user of `assignees`, runs that template with the issue's id,
 * identifier, title, description and url (those the template declares); anything else is ignored.
 * The run is labelled with the issue, so that its end is commented there (`LinearSlackReplies`).
 */
export class LinearTrigger {
  readonly #config: LinearTriggerConfig;
  readonly #templates: RunTemplates;
  readonly #seen: SeenDeliveries;
  readonly #service: EngineService;
  readonly #secret: (name: string) => Promise<string>;
  readonly #now: () => number;
  readonly #unverified = new UnverifiedDenials((reason) => this.#deny(unverifiedSender, reason));

  constructor(options: {
    readonly config: LinearTriggerConfig;
    readonly templates: RunTemplates;
    readonly seen: SeenDeliveries;
    readonly service: EngineService;
    /** A server secret's value (the webhook's signing secret). */
    readonly secret: (name: string) => Promise<string>;
    readonly now?: () => number;
  }) {
    this.#config = options.config;
    this.#templates = options.templates;
    this.#seen = options.seen;
    this.#service = options.service;
    this.#secret = options.secret;
    this.#now = options.now ?? Date.now;
  }

  async handle(body: Uint8Array, headers: LinearDeliveryHeaders): Promise<LinearDeliveryResult> {
    const signed = linearSignatureProblem(body, headers.signature, await this.#secret(this.#config.secret));
    if (signed !== undefined) await this.#refuseUnverified(signed, 'linear-signature');
    let payload: LinearIssueDelivery;
    try {
      payload = JSON.parse(Buffer.from(body).toString('utf8')) as LinearIssueDelivery;
    } catch {
      throw new CairnError('CAIRN_PAYLOAD_INVALID', 'The Linear delivery is not JSON; Linear sends its webhook payloads as JSON.', { path: 'body' });
    }
    const stale = linearTimestampProblem(payload?.webhookTimestamp, this.#config.toleranceSeconds, this.#now());
    if (stale !== undefined) await this.#refuseUnverified(stale, 'body.webhookTimestamp');
    const deliveryId = headers.deliveryId;
    if (deliveryId === undefined || !/^[A-Za-z0-9-]{1,100}$/.test(deliveryId))
      throw new CairnError('CAIRN_PAYLOAD_INVALID', 'A Linear delivery carries its id in Linear-Delivery (a UUID); this one has none.', {
        path: 'linear-delivery',
        action: 'Send each delivery with the Linear-Delivery header Linear sets: it is what makes a redelivery run nothing twice.',
      });
    return (await this.#seen.handleOnce(`linear:${deliveryId}`, () => this.#handleNew(payload, deliveryId))) ?? { duplicate: true };
  }

  async #handleNew(payload: LinearIssueDelivery, deliveryId: string): Promise<LinearDeliveryResult> {
    if (payload.type !== 'Issue') return { duplicate: false, ignored: `the ${String(payload.type)} event starts no run (only Issue does)` };
    if (payload.action !== 'create' && payload.action !== 'update')
      return { duplicate: false, ignored: `Issue ${String(payload.action)} starts no run (only create and update do)` };
    const issue = payload.data;
    for (const field of ['id', 'identifier', 'title', 'url'] as const)
      if (typeof issue?.[field] !== 'string')
        throw new CairnError('CAIRN_PAYLOAD_INVALID', `The Issue delivery has no data.${field} (a string), which every Issue payload Linear sends carries.`, {
          path: `body.data.${field}`,
          action: 'Check what posts to /v1/triggers/linear: Linear sends the whole issue in data; a body written by hand (a test) must carry it too.',
        });
    const started = this.#templateOf(payload);
    if (typeof started === 'string') return { duplicate: false, ignored: started };
    const actorName = typeof payload.actor?.name === 'string' ? payload.actor.name.slice(0, 200) : 'unknown';
    const values: Record<string, string> = {
      'issue.id': issue!.id as string,
      'issue.identifier': issue!.identifier as string,
      'issue.title': issue!.title as string,
      'issue.description': typeof issue!.description === 'string' ? issue!.description : '',
      'issue.url': issue!.url as string,
    };
    return auditingRefusals(
      (reason) => this.#deny(linearActor, `template ${started.template}: ${reason}`),
      async () => {
        const declared = new Set(
          this.#templates
            .list()
            .find((template) => template.name === started.template)
            ?.parameters.map((parameter) => parameter.name),
        );
        const submitted = await submitTriggeredRun(this.#templates, this.#service, {
          template: started.template,
          parameters: Object.fromEntries(Object.entries(values).filter(([name]) => declared.has(name))),
          actor: linearActor,
          idempotencyKey: `linear-delivery:${deliveryId}`,
          labels: {
            trigger: 'linear',
            'linear.issue': values['issue.id']!,
            'linear.identifier': values['issue.identifier']!,
            'linear.by': `${actorName.replace(/[\p{Cc}]/gu, ' ')} (${started.because})`,
          },
        });
        return { duplicate: false, runId: submitted.runId, template: started.template, created: submitted.created };
      },
    );
  }

  /** The template an Issue event asks for — by a label it just gained, or an assignee it just got — or why none. */
  #templateOf(payload: LinearIssueDelivery): { template: string; because: string } | string {
    const created = payload.action === 'create';
    const previousLabels = payload.updatedFrom?.labelIds;
    for (const label of payload.data?.labels ?? []) {
      const name = typeof label.name === 'string' ? label.name : undefined;
      if (name === undefined || !Object.hasOwn(this.#config.labels, name)) continue;
      // Only a label just added starts a run: an edit of the title of an issue that keeps it does not.
      const added = created || (Array.isArray(previousLabels) && !previousLabels.includes(label.id));
      if (added) return { template: this.#config.labels[name]!, because: `label ${name}` };
    }
    const assignee = payload.data?.assigneeId;
    if (typeof assignee === 'string' && Object.hasOwn(this.#config.assignees, assignee)) {
      const assigned =
        created || (payload.updatedFrom !== undefined && Object.hasOwn(payload.updatedFrom, 'assigneeId') && payload.updatedFrom.assigneeId !== assignee);
      if (assigned) return { template: this.#config.assignees[assignee]!, because: `assigned to ${assignee}` };
    }
    return 'the issue gained none of the labels of triggers.linear.labels and was not assigned to one of triggers.linear.assignees';
  }

  async #refuseUnverified(reason: string, path: string): Promise<never> {
    await this.#unverified.deny(reason);
    throw new CairnError('CAIRN_UNAUTHENTICATED', `Refused: ${reason}.`, {
      path,
      action: `Give the Linear webhook the signing secret stored in the server secret ${this.#config.secret} (or set that secret to the webhook's), and check this server's clock: a delivery must arrive within ${this.#config.toleranceSeconds} s of being sent.`,
    });
  }

  async #deny(actor: AuditActor, reason: string): Promise<void> {
    await this.#service.hostAudit.accessDenied({ actor, entity: triggerEntity, requestedAction, reason });
  }
}
