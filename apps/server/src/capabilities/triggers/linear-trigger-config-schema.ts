import { z } from 'zod';
import { secretName } from './secret-name-schema.ts';

const templateName = z.string().min(1, 'must name a template of templates:, e.g. fix-issue');

/** A map of names to templates whose keys must match `pattern`: a key that does not is named, with `message` (zod's own record key error says only "Invalid key"). */
export function keysMatching(pattern: RegExp, message: string) {
  return z.record(z.string(), templateName).superRefine((record, context) => {
    for (const key of Object.keys(record)) if (!pattern.test(key)) context.addIssue({ code: 'custom', path: [key], message });
  });
}

/**
 * `triggers.linear`: `POST /v1/triggers/linear` takes the deliveries of a Linear webhook (Issues
 * data changes). A delivery must carry `Linear-Signature`, the hex HMAC-SHA256 of its body with the
 * webhook's signing secret, and a `webhookTimestamp` within `toleranceSeconds`; an issue given one of
 * `labels`, or assigned to one of `assignees`, starts a run from the template named, and when the
 * run ends a comment on the issue says how it ended (Linear's GraphQL `commentCreate`, with the API
 * key of `tokenSecret`).
 */
export const linearTriggerConfigSchema = z
  .strictObject({
    /** The server secret holding the webhook's signing secret (Linear shows it on the webhook's settings page). */
    secret: secretName,
    /** The server secret holding a Linear API key (or OAuth token) that may comment on the issues: the run's end is said there. */
    tokenSecret: secretName,
    /** Linear's GraphQL endpoint. */
    apiUrl: z
      .url({ protocol: /^https?$/, error: "must be the http(s) URL of Linear's GraphQL API, e.g. https://api.linear.app/graphql" })
      .default('https://api.linear.app/graphql'),
    /** An issue given one of these labels (by name, as Linear shows it) runs the template named: `{ cairn: fix-issue }`. */
    labels: z.record(z.string().min(1).max(100), templateName).default({}),
    /** An issue assigned to one of these Linear users (by user id, a UUID) runs the template named. */
    assignees: keysMatching(/^[0-9a-f-]{36}$/i, "must be a Linear user's id (a UUID; Linear's API and the user's page show it)").default({}),
    /** How far `webhookTimestamp` may be from the server's clock, either side, in seconds (Linear advises a minute). */
    toleranceSeconds: z.int().min(1).max(3_600).default(60),
  })
  .refine((linear) => Object.keys(linear.labels).length + Object.keys(linear.assignees).length > 0, {
    message: 'must list at least one label or assignee whose issues start runs, e.g. labels: { cairn: fix-issue }',
    path: ['labels'],
  });

export type LinearTriggerConfig = z.output<typeof linearTriggerConfigSchema>;
