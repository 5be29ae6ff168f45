import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';

/**
 * Checks a webhook payload a test is about to send against GitHub's own published description of
 * its webhooks (`@octokit/openapi-webhooks`'s `api.github.com.json`, OpenAPI 3.1, whose schemas are
 * JSON Schema 2020-12): the schema of the event and its action (`pull_request_review` `submitted`
 * is `webhook-pull-request-review-submitted`). So a test cannot hand the server a delivery GitHub
 * never sends — a field missing, a wrong type, an action the event does not have — and pass.
 */
interface Description {
  readonly webhooks: Record<
    string,
    { readonly post?: { readonly requestBody?: { readonly content?: Record<string, { readonly schema?: { $ref?: string } }> } } }
  >;
}

let shared: { readonly ajv: Ajv2020; readonly description: Description; readonly compiled: Map<string, ValidateFunction> } | undefined;

function load() {
  if (shared !== undefined) return shared;
  const file = createRequire(import.meta.url).resolve('@octokit/openapi-webhooks/generated/api.github.com.json');
  const description = JSON.parse(readFileSync(file, 'utf8')) as Description;
  // Formats are left unchecked (the description uses `uri-template` and others Ajv does not know).
  const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: false });
  ajv.addSchema(description as object, 'github-webhooks');
  shared = { ajv, description, compiled: new Map() };
  return shared;
}

/** Why GitHub's description refuses `payload` as a delivery of `event`, or undefined when it allows it. */
export function githubWebhookProblem(event: string, payload: unknown): string | undefined {
  const { ajv, description, compiled } = load();
  const action = (payload as { action?: unknown } | null)?.action;
  const name = typeof action === 'string' ? `${event.replaceAll('_', '-')}-${action}` : event.replaceAll('_', '-');
  const reference = description.webhooks[name]?.post?.requestBody?.content?.['application/json']?.schema?.$ref;
  if (reference === undefined)
    return `GitHub sends no ${event} delivery${typeof action === 'string' ? ` with action ${JSON.stringify(action)}` : ' without an action'}`;
  let validate = compiled.get(name);
  if (validate === undefined) {
    validate = ajv.compile({ $ref: `github-webhooks${reference}` });
    compiled.set(name, validate);
  }
  if (validate(payload)) return undefined;
  return `${reference.split('/').at(-1)}: ${describe(validate.errors?.[0])}`;
}

/** Throws, with the schema's message, when GitHub's description refuses `payload` as a delivery of `event`. */
export function assertGitHubWebhook(event: string, payload: unknown): void {
  const problem = githubWebhookProblem(event, payload);
  if (problem !== undefined) throw new Error(`a test delivery GitHub would never send (@octokit/openapi-webhooks): ${problem}`);
}

function describe(error: ErrorObject | undefined): string {
  if (error === undefined) return 'not valid';
  const where = error.instancePath === '' ? 'the payload' : error.instancePath;
  if (error.keyword === 'required') return `${where} must have ${String(error.params['missingProperty'])}`;
  if (error.keyword === 'enum') return `${where} ${error.message ?? ''}: ${JSON.stringify(error.params['allowedValues'])}`;
  return `${where} ${error.message ?? 'is not valid'}`;
}
