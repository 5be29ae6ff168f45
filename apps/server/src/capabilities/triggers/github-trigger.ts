import type { AuditActor } from '@cairn/core';
import type { EngineService } from '@cairn/engine';
import { CairnError } from '@cairn/protocol';
import { isGithubSignature } from './github-signature.ts';
import { permissionsAllowedToRun, type RepositoryPermissions } from './repository-permissions.ts';
import type { ReviewLoop } from './review-loop/review-loop.ts';
import type { RunTemplates } from './run-templates.ts';
import type { SeenDeliveries } from './seen-deliveries.ts';
import type { GithubTriggerConfig } from './trigger-config-schema.ts';
import { auditingRefusals, submitTriggeredRun } from './triggered-run.ts';
import { UnverifiedDenials } from './unverified-denials.ts';

/** What a delivery came to: a run started, nothing to do, or a replay of one already handled. */
export type GithubDeliveryResult =
  | { readonly duplicate: false; readonly runId: string; readonly template: string; readonly created: boolean }
  | { readonly duplicate: false; readonly ignored: string }
  | { readonly duplicate: true };

/** The headers of a delivery the trigger reads. */
export interface GithubDeliveryHeaders {
  readonly signature: string | undefined;
  readonly event: string | undefined;
  readonly deliveryId: string | undefined;
}

/** A person asked for a template: who, where, which, and the values a template may take from the event. */
interface RunRequest {
  readonly login: string;
  readonly repository: string;
  readonly template: string;
  readonly values: Readonly<Record<string, string>>;
}

/** Who refusals of a delivery that is not GitHub's are audited as: nobody is known yet. */
const unverifiedSender: AuditActor = { kind: 'system', id: 'unverified-github-delivery', via: 'http' };
const triggerEntity = { kind: 'server', id: 'triggers/github' } as const;
const requestedAction = 'triggers.github';

/**
 * GitHub webhook deliveries into runs. In order: the signature (HMAC-SHA256 of the raw body with
 * the webhook's secret, checked in constant time; a bad or missing one is refused and audited);
 * the delivery id, claimed once (a replay answers `duplicate` and runs nothing); the event, which
 * asks for a template by label (`issues` `labeled`) or by comment (`issue_comment` `created`
 * starting with the command) — anything else is ignored; the person's role on the repository
 * (write, maintain or admin), asked of GitHub before anything else is looked at; the template,
 * filled with the event's values and checked; then the run, submitted as that person. Every
 * refusal is audited as `access.denied`, naming the person and why (an unverified delivery's at
 * most 10 a minute, the rest counted into the next).
 */
export class GithubTrigger {
  readonly #config: GithubTriggerConfig;
  readonly #templates: RunTemplates;
  readonly #seen: SeenDeliveries;
  readonly #permissions: RepositoryPermissions;
  readonly #service: EngineService;
  readonly #secret: (name: string) => Promise<string>;
  readonly #reviewLoop: ReviewLoop | undefined;
  /** Refusals of deliveries that are not GitHub's: anyone can post one, so they are audited at most 10 a minute. */
  readonly #unverified = new UnverifiedDenials((reason) => this.#deny(unverifiedSender, reason));

  constructor(options: {
    readonly config: GithubTriggerConfig;
    readonly templates: RunTemplates;
    readonly seen: SeenDeliveries;
    readonly permissions: RepositoryPermissions;
    readonly service: EngineService;
    /** A server secret's value (the webhook's secret). */
    readonly secret: (name: string) => Promise<string>;
    /** With `reviewLoop` configured: what answers pull request reviews, mentions and checks (ADR 0052). */
    readonly reviewLoop?: ReviewLoop;
  }) {
    this.#config = options.config;
    this.#templates = options.templates;
    this.#seen = options.seen;
    this.#permissions = options.permissions;
    this.#service = options.service;
    this.#secret = options.secret;
    this.#reviewLoop = options.reviewLoop;
  }

  async handle(body: Uint8Array, headers: GithubDeliveryHeaders): Promise<GithubDeliveryResult> {
    const secret = await this.#secret(this.#config.secret);
    if (!isGithubSignature(body, headers.signature, secret)) {
      const reason =
        headers.signature === undefined
          ? 'the delivery has no X-Hub-Signature-256 header'
          : 'X-Hub-Signature-256 is not the HMAC-SHA256 of the body with the webhook secret';
      await this.#unverified.deny(reason);
      throw new CairnError(
        'CAIRN_UNAUTHENTICATED',
        `Refused: ${reason}. Give the GitHub webhook the secret stored in the server secret ${this.#config.secret}, with content type application/json.`,
        {
          path: 'x-hub-signature-256',
          action: `Set the webhook's secret on GitHub to the value of the server secret ${this.#config.secret} (or set that secret to the webhook's), content type application/json.`,
        },
      );
    }
    const deliveryId = headers.deliveryId;
    if (deliveryId === undefined || !/^[A-Za-z0-9-]{1,100}$/.test(deliveryId))
      throw new CairnError('CAIRN_PAYLOAD_INVALID', 'A GitHub delivery carries its id in X-GitHub-Delivery (a GUID); this one has none.', {
        path: 'x-github-delivery',
      });
    return (await this.#seen.handleOnce(deliveryId, () => this.#handleNew(body, headers.event, deliveryId))) ?? { duplicate: true };
  }

  async #handleNew(body: Uint8Array, event: string | undefined, deliveryId: string): Promise<GithubDeliveryResult> {
    let payload: unknown;
    try {
      payload = JSON.parse(Buffer.from(body).toString('utf8'));
    } catch {
      throw new CairnError('CAIRN_PAYLOAD_INVALID', "The delivery is not JSON: set the webhook's content type to application/json on GitHub.", {
        path: 'body',
      });
    }
    if (this.#reviewLoop?.wants(event, payload)) {
      const repository = (payload as GithubIssueDelivery | null)?.repository?.full_name;
      if (typeof repository !== 'string') throw missingField(event!, 'repository.full_name', 'the repository (owner/name) the pull request is in');
      const sender = (payload as GithubIssueDelivery).sender?.login;
      await this.#assertListed({ kind: 'user', id: `github:${typeof sender === 'string' ? sender : 'unknown'}`, via: 'http' }, repository, payload);
      return this.#reviewLoop.handle(event, payload, repository);
    }
    const request = this.#runRequestOf(event, payload);
    if (typeof request === 'string') return { duplicate: false, ignored: request };
    const actor: AuditActor = { kind: 'user', id: `github:${request.login}`, via: 'http' };
    await this.#assertListed(actor, request.repository, payload);
    const role = await this.#permissions.readPermission(request.repository, request.login);
    if (!permissionsAllowedToRun.includes(role)) {
      const reason = `${request.login} has ${role === 'none' ? 'no access' : `the ${role} role`} on ${request.repository}; starting a run (template ${request.template}) needs write, maintain or admin`;
      await this.#deny(actor, reason);
      throw new CairnError('CAIRN_FORBIDDEN', `Not allowed: ${reason}.`, { details: { action: requestedAction, login: request.login, role } });
    }
    return auditingRefusals(
      (reason) => this.#deny(actor, `template ${request.template}: ${reason}`),
      async () => {
        if (!this.#templates.has(request.template) || (this.#config.commandTemplates && !this.#config.commandTemplates.includes(request.template)))
          throw new CairnError(
            'CAIRN_NOT_FOUND',
            `There is no template ${JSON.stringify(request.template)} a GitHub comment may run: ${(this.#config.commandTemplates ?? this.#templates.list().map((template) => template.name)).join(', ') || 'none'}.`,
            { path: 'template' },
          );
        const declared = new Set(
          this.#templates
            .list()
            .find((template) => template.name === request.template)!
            .parameters.map((parameter) => parameter.name),
        );
        const parameters = Object.fromEntries(Object.entries(request.values).filter(([name]) => declared.has(name)));
        const submitted = await submitTriggeredRun(this.#templates, this.#service, {
          template: request.template,
          parameters,
          actor,
          idempotencyKey: `github-delivery:${deliveryId}`,
        });
        return { duplicate: false, runId: submitted.runId, template: request.template, created: submitted.created };
      },
    );
  }

  /** Refuses and audits a delivery from a repository, or an App installation, the trigger's lists do not name. */
  async #assertListed(actor: AuditActor, repository: string, payload: unknown): Promise<void> {
    if (!isListedRepository(this.#config.repositories, repository)) {
      const reason = `${repository} is not one of triggers.github.repositories (${this.#config.repositories.join(', ')}); its deliveries start no run`;
      await this.#deny(actor, reason);
      throw new CairnError('CAIRN_FORBIDDEN', `Not allowed: ${reason}.`, {
        path: 'repository.full_name',
        details: { action: requestedAction, repository },
      });
    }
    const installations = this.#config.installations;
    const installationId = installationIdOf(payload);
    if (installations !== undefined && (installationId === undefined || !installations.includes(installationId))) {
      const named = installationId === undefined ? 'names no GitHub App installation' : `comes from installation ${installationId}`;
      const reason = `the delivery ${named}, which is not one of triggers.github.installations (${installations.join(', ')}); it starts no run`;
      await this.#deny(actor, reason);
      throw new CairnError('CAIRN_FORBIDDEN', `Not allowed: ${reason}.`, {
        path: 'installation.id',
        details: { action: requestedAction, repository },
      });
    }
  }

  /** The run a delivery asks for, or why it asks for none. */
  #runRequestOf(event: string | undefined, payload: unknown): RunRequest | string {
    const delivery = payload as GithubIssueDelivery;
    const issue = delivery.issue;
    const repository = delivery.repository?.full_name;
    if (event !== 'issues' && event !== 'issue_comment') return `the ${event ?? 'unnamed'} event starts no run (only issues and issue_comment do)`;
    if (typeof issue?.title !== 'string') throw missingField(event, 'issue.title', 'the issue the event is about');
    if (typeof repository !== 'string') throw missingField(event, 'repository.full_name', 'the repository (owner/name) the issue is in');
    const values = {
      'issue.title': issue.title,
      'issue.body': typeof issue.body === 'string' ? issue.body : '',
      'issue.number': String(issue.number),
      'issue.html_url': String(issue.html_url),
      'repository.full_name': repository,
    };
    if (event === 'issues') {
      if (delivery.action !== 'labeled') return `issues ${String(delivery.action)} starts no run (only labeled does)`;
      const label = delivery.label?.name;
      const template = typeof label === 'string' && Object.hasOwn(this.#config.labels, label) ? this.#config.labels[label] : undefined;
      const login = delivery.sender?.login;
      if (template === undefined) return `the label ${JSON.stringify(label)} starts no run (triggers.github.labels names the ones that do)`;
      if (typeof login !== 'string') throw missingField('issues', 'sender.login', 'the GitHub login of the person who added the label');
      return { login, repository, template, values: { ...values, 'sender.login': login } };
    }
    if (delivery.action !== 'created') return `issue_comment ${String(delivery.action)} starts no run (only created does)`;
    const text = delivery.comment?.body;
    const login = delivery.comment?.user?.login;
    const command = this.#config.command;
    if (typeof text !== 'string' || !text.startsWith(`${command} `)) return `the comment does not start with ${JSON.stringify(command)}`;
    if (typeof login !== 'string') throw missingField('issue_comment', 'comment.user.login', 'the GitHub login of the person who wrote the comment');
    const template = text.slice(command.length + 1).split(/\s/, 1)[0] ?? '';
    return { login, repository, template, values: { ...values, 'sender.login': login, 'comment.body': text } };
  }

  async #deny(actor: AuditActor, reason: string): Promise<void> {
    await this.#service.hostAudit.accessDenied({ actor, entity: triggerEntity, requestedAction, reason });
  }
}

/** Whether `repository` (`owner/name`) is listed, by name or as one of an `owner/*`'s; GitHub's names ignore case. */
function isListedRepository(listed: readonly string[], repository: string): boolean {
  const wanted = repository.toLowerCase();
  const owner = wanted.split('/', 1)[0];
  return listed.some((entry) => {
    const name = entry.toLowerCase();
    return name === wanted || name === `${owner}/*`;
  });
}

/** The fields of GitHub's `issues` and `issue_comment` payloads the trigger reads. */
interface GithubIssueDelivery {
  readonly action?: unknown;
  readonly issue?: { readonly title?: unknown; readonly body?: unknown; readonly number?: unknown; readonly html_url?: unknown };
  readonly label?: { readonly name?: unknown };
  readonly comment?: { readonly body?: unknown; readonly user?: { readonly login?: unknown } };
  readonly sender?: { readonly login?: unknown };
  readonly repository?: { readonly full_name?: unknown };
}

/**
 * A signed delivery without a field every payload GitHub sends for `event` carries. It is not a
 * disagreement between Cairn versions (the catalogue's advice for CAIRN_PAYLOAD_INVALID): the body
 * was written or rewritten by something other than GitHub, so the refusal says what GitHub sends
 * there and what to check.
 */
function missingField(event: string, field: string, what: string): CairnError {
  return new CairnError(
    'CAIRN_PAYLOAD_INVALID',
    `The ${event} delivery has no ${field} (a string: ${what}), which every ${event} payload GitHub sends carries.`,
    {
      path: `$.${field}`,
      action: `GitHub's ${event} payloads always carry ${field} (https://docs.github.com/en/webhooks/webhook-events-and-payloads#${event}); this body was written or rewritten by something else. Check what posts to /v1/triggers/github: the webhook on GitHub (its Recent Deliveries show each payload it sent, and can redeliver one), or a proxy or relay on the way that rewrites bodies; a delivery written by hand (a test) must carry it too.`,
      details: { event, field },
    },
  );
}

/** The App installation a delivery names (`installation.id`), if any. */
function installationIdOf(payload: unknown): number | undefined {
  const installation = (payload as { installation?: { id?: unknown } } | null)?.installation;
  return typeof installation?.id === 'number' ? installation.id : undefined;
}
