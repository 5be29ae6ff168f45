import type { AuditActor } from '@cairn/core';
import type { EngineService } from '@cairn/engine';
import { isCairnError } from '@cairn/protocol';
import { submitFilled, type RunTemplates } from './run-templates.ts';

/** A run a trigger starts: the template, its parameters, who asked, and the key that makes a retry harmless. */
export interface TriggeredRunRequest {
  readonly template: string;
  readonly parameters: Readonly<Record<string, string>>;
  readonly actor: AuditActor;
  /** Names the delivery (`github-delivery:ID`, `webhooks/NAME:ID`): the same delivery makes one run. */
  readonly idempotencyKey: string;
  /** Labels the trigger adds to the filled spec, replacing the template's own of the same keys: what caused the run, kept in its evidence. */
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * Fills the template and submits it as `actor`, with the template's `triggerSecrets` (a delivery
 * holds no token to grant any); a refusal of the filled spec names the template and parameters.
 */
export async function submitTriggeredRun(
  templates: RunTemplates,
  service: EngineService,
  request: TriggeredRunRequest,
): Promise<{ readonly runId: string; readonly created: boolean }> {
  const filled = templates.fill(request.template, request.parameters);
  const labelled =
    request.labels === undefined
      ? filled
      : { ...filled, document: { ...(filled.document as object), labels: { ...(filled.document as { labels?: object }).labels, ...request.labels } } };
  return submitFilled(labelled, (document) =>
    service.submit(document, {
      actor: request.actor,
      source: `template ${request.template}`,
      secretGrants: filled.triggerSecrets,
      idempotencyKey: request.idempotencyKey,
    }),
  );
}

/**
 * Whether `error` refuses a delivery for what it asks (a CairnError under 500), which its
 * redelivery would meet again, rather than a failure on the server's side: anything else, a 5xx,
 * or a server secret the config names that is unset (CAIRN_SECRET_UNAVAILABLE, a 422 but the
 * operator's to fix).
 */
export function isRefusalOfDelivery(error: unknown): boolean {
  return isCairnError(error) && error.status < 500 && error.code !== 'CAIRN_SECRET_UNAVAILABLE';
}

/**
 * Runs `work`; a refusal it throws for what the delivery asks (`isRefusalOfDelivery`) is audited
 * with `deny` first (its message, bounded), then thrown. Failures on the server's side are not
 * refusals and are not audited as such.
 */
export async function auditingRefusals<T>(deny: (reason: string) => Promise<void>, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isRefusalOfDelivery(error)) await deny((error as Error).message.slice(0, 2_000));
    throw error;
  }
}
