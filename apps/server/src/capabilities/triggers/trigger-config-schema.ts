import { z } from 'zod';
import { jsonPointerPattern } from './json-pointer.ts';
import { linearTriggerConfigSchema } from './linear-trigger-config-schema.ts';
import { reviewLoopConfigSchema } from './review-loop/review-loop-config-schema.ts';
import { secretName } from './secret-name-schema.ts';
import { slackTriggerConfigSchema } from './slack-trigger-config-schema.ts';

/** A template parameter's name: `title`, or dotted like the event fields a trigger fills (`issue.title`). */
export const templateParameterName = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/**
 * A run template: a run spec file (relative to the config) whose string values may hold
 * `{{ name }}` placeholders, and the parameters it takes. Every parameter is a string; one without a
 * default must be given. A value is put into the parsed spec as a string, never spliced into its
 * text, so no parameter can change the spec's structure.
 */
export const runTemplateConfigSchema = z.strictObject({
  /** The run spec file (YAML or JSON), relative to the config file. */
  spec: z.string().min(1, 'must name the run spec file, e.g. ./templates/fix-issue.yaml'),
  /** What the template is for (`GET /v1/templates` shows it). */
  description: z.string().max(500).optional(),
  /** The parameters, by name: each a string, required unless it has a default. */
  parameters: z
    .record(
      z.string().regex(templateParameterName, 'must be a parameter name: letters, digits and _, parts joined by dots (issue.title)'),
      z.strictObject({
        description: z.string().max(500).optional(),
        default: z.string({ error: 'must be a string (every parameter is one)' }).max(65_536).optional(),
      }),
    )
    .default({}),
  /**
   * The secrets a run a trigger starts from this template may use (a run submitted through the API
   * uses its token's grants instead): a GitHub delivery holds no token to grant them.
   */
  triggerSecrets: z.array(secretName).max(100).default([]),
});

/**
 * `POST /v1/triggers/github`: GitHub webhook deliveries start runs from templates. A delivery must
 * be signed with `secret` (X-Hub-Signature-256), and whoever labelled or commented must have write
 * access to the repository (asked of `apiUrl` with `tokenSecret`) before anything runs.
 */
export const githubTriggerConfigSchema = z.strictObject({
  /** The server secret holding the webhook's secret (the one typed in GitHub's webhook settings). */
  secret: secretName,
  /** The server secret holding a GitHub token that may read the repositories' collaborators. */
  tokenSecret: secretName,
  /** GitHub's REST API root; a GitHub Enterprise Server's is `https://HOST/api/v3`. */
  apiUrl: z
    .url({ protocol: /^https?$/, error: 'must be the http(s) URL of the GitHub REST API, e.g. https://api.github.com' })
    .default('https://api.github.com'),
  /**
   * The repositories whose deliveries may start runs: `owner/name`, or `owner/*` for every one of an
   * owner's. A validly signed delivery from any other (a webhook set on an organisation, a secret
   * reused) is refused and audited before anyone's access is asked of GitHub.
   */
  repositories: z
    .array(
      z
        .string()
        .regex(/^[A-Za-z0-9-]{1,39}\/(\*|[A-Za-z0-9._-]{1,100})$/, "must be a repository as owner/name, or owner/* for all of an owner's, e.g. acme/api"),
      { error: "must list the repositories whose deliveries may start runs, e.g. [acme/api] (owner/* for all of an owner's)" },
    )
    .min(1, 'must list at least one repository, e.g. [acme/api]'),
  /**
   * With a GitHub App: the ids of its installations whose deliveries may start runs. A delivery that
   * names another installation, or none, is refused and audited like one from an unlisted
   * repository. Absent, deliveries are not checked for an installation (a repository's own webhook
   * names none).
   */
  installations: z
    .array(z.int().positive('must be a GitHub App installation id, e.g. 2311213'), { error: 'must list installation ids, e.g. [2311213]' })
    .min(1, 'must list at least one installation id, or be left out')
    .optional(),
  /** An issue given one of these labels runs the template named: `{ 'cairn:fix': fix-issue }`. */
  labels: z.record(z.string().min(1).max(100), z.string().min(1)).default({}),
  /** A comment starting with this, then a template's name (`/cairn run fix-issue`), runs that template. */
  command: z
    .string()
    .min(2)
    .max(100)
    .regex(/^\S+( \S+)*$/, 'must be words separated by single spaces, e.g. /cairn run')
    .default('/cairn run'),
  /** The templates a comment may name; all of them unless listed. */
  commandTemplates: z.array(z.string().min(1)).optional(),
  /** Follow-up runs answering review comments, mentions and failing checks on the pull requests Cairn delivered (ADR 0052). */
  reviewLoop: reviewLoopConfigSchema.optional(),
});

/**
 * `POST /v1/triggers/webhooks/{name}`: deliveries signed per the Standard Webhooks specification
 * (`webhook-id`, `webhook-timestamp`, `webhook-signature`) start runs from one template, its
 * parameters taken from the JSON payload by JSON pointers.
 */
export const standardWebhookConfigSchema = z.strictObject({
  /** The server secret holding the webhook's secret, as the sender shows it: `whsec_` and base64. */
  secret: secretName,
  /** The template every delivery runs. */
  template: z.string().min(1),
  /**
   * Each template parameter, by name, and the RFC 6901 JSON pointer of the payload value it takes
   * (`/issue/title`); a string is taken as it is, any other value as its JSON text. A parameter
   * not listed, or whose pointer names nothing, takes its default; without one the delivery is refused.
   */
  parameters: z
    .record(
      z.string().regex(templateParameterName, 'must be a parameter name of the template: letters, digits and _, parts joined by dots (issue.title)'),
      z.string().max(1_000).regex(jsonPointerPattern, 'must be a JSON pointer (RFC 6901): "" for the whole payload, or /key/0/key (~1 for /, ~0 for ~)'),
    )
    .default({}),
  /** How far `webhook-timestamp` may be from the server's clock, either side, in seconds (the spec's 5 minutes by default). */
  toleranceSeconds: z.int().min(1).max(3_600).default(300),
});

/** `triggers:` in the server config. */
export const triggersConfigSchema = z.strictObject({
  github: githubTriggerConfigSchema.optional(),
  /** `POST /v1/triggers/linear`: Linear issues labelled or assigned start runs; the run's end is commented on the issue. */
  linear: linearTriggerConfigSchema.optional(),
  /** `POST /v1/triggers/slack`: slash commands and app mentions start runs; the run's end is posted back to the channel. */
  slack: slackTriggerConfigSchema.optional(),
  /** Standard Webhooks endpoints by name: `POST /v1/triggers/webhooks/{name}`. */
  webhooks: z
    .record(
      z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be a webhook name: lowercase letters, digits, . _ and -, e.g. deploy-failed'),
      standardWebhookConfigSchema,
    )
    .default({}),
});

export type RunTemplateConfig = z.output<typeof runTemplateConfigSchema>;
export type GithubTriggerConfig = z.output<typeof githubTriggerConfigSchema>;
export type StandardWebhookConfig = z.output<typeof standardWebhookConfigSchema>;
export type TriggersConfig = z.output<typeof triggersConfigSchema>;
