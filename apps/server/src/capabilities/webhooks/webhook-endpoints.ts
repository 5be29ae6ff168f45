import { randomBytes } from 'node:crypto';
import type { AuditActor, CairnEventType, CipherV1 } from '@cairn/core';
import type { EngineService } from '@cairn/engine';
import { CairnError, cipherEnvelopeSchema, parsePayload } from '@cairn/protocol';
import { createWebhookSecret } from './webhook-secret.ts';
import type { WebhookDelivery, WebhookEndpoint, WebhookStore } from './webhook-store.ts';
import { webhookUrlProblem } from './webhook-url.ts';

/** What a new endpoint is: where to send, and which events (all of them by default). */
export interface WebhookDefinition {
  readonly url: string;
  readonly events?: readonly CairnEventType[];
  readonly runId?: string;
  readonly description?: string;
}

/**
 * Webhook endpoints: added with a fresh signing secret (returned once, then kept only encrypted
 * through the composition's CipherV1, bound to the endpoint's id), listed without it, removed.
 * Adding and removing are audited with the request's actor and the URL's origin — never the
 * secret, nor the URL's path, which for some receivers is itself a credential.
 */
export class WebhookEndpoints {
  readonly #store: WebhookStore;
  readonly #cipher: CipherV1;
  readonly #service: Pick<EngineService, 'auditSize' | 'hostAudit'>;
  readonly #now: () => number;
  readonly #added: () => void;
  /** Decrypted secrets, so a busy endpoint is not decrypted at every attempt. */
  readonly #secrets = new Map<string, Promise<string>>();

  constructor(settings: {
    readonly store: WebhookStore;
    readonly cipher: CipherV1;
    /** Where the log's end is read and the endpoints' `webhook.*` entries are written. */
    readonly service: Pick<EngineService, 'auditSize' | 'hostAudit'>;
    readonly now?: () => number;
    /** Told once an endpoint is added (the dispatcher, which then starts reading events at once). */
    readonly added?: () => void;
  }) {
    this.#store = settings.store;
    this.#cipher = settings.cipher;
    this.#service = settings.service;
    this.#now = settings.now ?? Date.now;
    this.#added = settings.added ?? (() => undefined);
  }

  /** Adds an endpoint; the result carries its secret, which is never shown again. */
  async add(definition: WebhookDefinition, actor: AuditActor): Promise<WebhookEndpoint & { readonly secret: string }> {
    const problem = webhookUrlProblem(definition.url);
    if (problem)
      throw new CairnError('CAIRN_PAYLOAD_INVALID', `The webhook url ${problem}.`, {
        path: 'body.url',
        action: 'Give the URL of the receiver as an absolute http:// or https:// URL without credentials in it.',
      });
    const webhookId = `wh_${randomBytes(10).toString('hex')}`;
    const secret = createWebhookSecret();
    const envelope = await this.#cipher.encrypt(new TextEncoder().encode(secret), { webhook: webhookId });
    const endpoint: WebhookEndpoint = {
      webhookId,
      url: definition.url,
      events: definition.events && definition.events.length > 0 ? [...new Set(definition.events)] : null,
      runId: definition.runId ?? null,
      description: definition.description ?? null,
      createdAt: new Date(this.#now()).toISOString(),
      createdBy: actor.id,
      disabledAt: null,
      disabledReason: null,
    };
    // The endpoint receives exactly the events after the log's end as read here. With SQLite the
    // insert runs before the store's promise settles: nothing of this process comes in between.
    const end = await this.#service.auditSize();
    await this.#store.addEndpoint(endpoint, JSON.stringify(envelope), end - 1);
    try {
      await this.#service.hostAudit.webhookCreated({
        actor,
        webhookId,
        origin: new URL(endpoint.url).origin,
        events: endpoint.events === null ? 'all' : endpoint.events,
        ...(endpoint.runId === null ? {} : { runId: endpoint.runId }),
      });
    } catch (error) {
      // Unaudited, it must not exist.
      await this.#store.removeEndpoint(webhookId).catch(() => {});
      throw error;
    }
    this.#added();
    return { ...endpoint, secret };
  }

  list(): Promise<WebhookEndpoint[]> {
    return this.#store.endpoints();
  }

  /** One endpoint; CAIRN_NOT_FOUND when there is none by that id. */
  async get(webhookId: string): Promise<WebhookEndpoint> {
    const endpoint = await this.#store.endpoint(webhookId);
    if (!endpoint) throw new CairnError('CAIRN_NOT_FOUND', `There is no webhook ${webhookId}; \`cairn webhook list\` shows the ids.`, { path: 'webhookId' });
    return endpoint;
  }

  /** Removes an endpoint and its deliveries (pending ones are not sent). */
  async remove(webhookId: string, actor: AuditActor): Promise<void> {
    const endpoint = await this.get(webhookId);
    await this.#store.removeEndpoint(webhookId);
    this.#secrets.delete(webhookId);
    await this.#service.hostAudit.webhookRemoved({ actor, webhookId, origin: new URL(endpoint.url).origin });
  }

  /** An endpoint's latest deliveries, oldest first. */
  async deliveries(webhookId: string): Promise<WebhookDelivery[]> {
    await this.get(webhookId);
    return this.#store.deliveries(webhookId);
  }

  /** The signing secret of an endpoint, decrypted (for the dispatcher only). */
  secretOf(webhookId: string): Promise<string> {
    let secret = this.#secrets.get(webhookId);
    if (!secret) {
      secret = this.#store.secretEnvelope(webhookId).then(async (stored) => {
        if (stored === undefined) throw new CairnError('CAIRN_NOT_FOUND', `There is no webhook ${webhookId}.`, { path: 'webhookId' });
        const envelope = parsePayload(cipherEnvelopeSchema, JSON.parse(stored), 'the webhook secret envelope');
        return new TextDecoder().decode(await this.#cipher.decrypt(envelope, { webhook: webhookId }));
      });
      secret.catch(() => this.#secrets.delete(webhookId));
      this.#secrets.set(webhookId, secret);
    }
    return secret;
  }
}
