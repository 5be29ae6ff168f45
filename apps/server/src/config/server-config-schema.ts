import { z } from 'zod';
import { gatewaySettingsSchema } from '../capabilities/gateway/gateway-settings.ts';
import { runnersConfigSchema } from '../capabilities/runners/runners-config-schema.ts';
import { telemetryConfigSchema } from './telemetry-config-schema.ts';
import { runTemplateConfigSchema, triggersConfigSchema } from '../capabilities/triggers/trigger-config-schema.ts';
import { workspacesConfigSchema } from '../workspaces/workspaces-config-schema.ts';
import { engineSectionSchema } from './engine-section-schema.ts';
import { executorConfigSchema } from './executor-config-schema.ts';
import { forgesConfigSchema } from '../capabilities/delivery/forges-config-schema.ts';
import { runtimesConfigSchema } from './runtimes-config-schema.ts';
import { anchorConfigSchema, cipherConfigSchema, signerConfigSchema, storageConfigSchema } from './seam-config-schemas.ts';
import { serverSectionSchema } from './server-section-schema.ts';

// The config is assembled from one piece per part of the server, each in its own file (the seams,
// the executor, the agent runtimes, the HTTP server, the engine, and the capabilities' own: gateway,
// forges, templates and triggers, workspaces, telemetry); this file holds the checks across them.

/** The config's options, before the checks across seams (`fargateNeedsAwsSeams`, `kubernetesNeedsS3AndKms`). */
const serverConfigShape = z.strictObject({
  /** Where the database, storage, keys and anchors live by default. */
  dataDirectory: z.string().min(1, 'must name a directory, e.g. ./cairn-data'),
  server: serverSectionSchema,
  storage: storageConfigSchema.prefault({ kind: 'local' }),
  signer: signerConfigSchema.prefault({}),
  /**
   * To rotate the signing key (ADR 0019): the signer of the key the audit log was signed with so
   * far (a key file — `keyFile` required — or a KMS key), while `signer` names the new one. At
   * start the old key signs the handover; it may stay configured after (it is then not used).
   */
  previousSigner: signerConfigSchema
    .refine((signer) => signer.kind !== 'local' || signer.keyFile !== undefined, {
      error: 'a local previous signer must name its keyFile (the old key, e.g. keys/signing-2025.pem)',
      path: ['keyFile'],
    })
    .optional(),
  cipher: cipherConfigSchema.prefault({}),
  /** Where signed checkpoints are anchored; every one gets each checkpoint. */
  anchors: z.array(anchorConfigSchema).default([{ kind: 'local' }]),
  executor: executorConfigSchema.prefault({ kind: 'local' }),
  engine: engineSectionSchema,
  /**
   * Agent runtimes by adapter name (`openai-compatible`, `claude-code`). Items may name only these
   * as `runtime.adapter`; `command` items need none.
   */
  runtimes: runtimesConfigSchema.prefault({}),
  /**
   * Where deliver items push (`runtime: { kind: deliver, forge: NAME, ... }`): git remotes and GitHub
   * repositories by name, their tokens in server secrets. Deliveries run in the server, never in a
   * sandbox (ADR 0040).
   */
  forges: forgesConfigSchema.default({}),
  /**
   * The model gateway (ADR 0033): agent items reach their models through the server, which holds
   * the provider keys, meters, prices and audits every call, and enforces budgets and quotas.
   */
  gateway: gatewaySettingsSchema.prefault({}),
  /**
   * Run templates by name: run spec files with `{{ name }}` placeholders, submitted with parameters
   * (`cairn run NAME --param k=v`, `POST /v1/templates/{name}/runs`, or a trigger).
   */
  templates: z
    .record(
      z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be a template name: lowercase letters, digits, . _ and -, e.g. fix-issue'),
      runTemplateConfigSchema,
    )
    .default({}),
  /** Runners on other hosts (ADR 0050): `enabled` offers the `runners` executor they dial out to. */
  runners: runnersConfigSchema.prefault({}),
  /** What starts runs from templates besides the API: GitHub webhook deliveries (`github`), Standard Webhooks (`webhooks`). */
  triggers: triggersConfigSchema.prefault({}),
  /** Workspaces the server fetches from git repositories (`workspace: { repository, ref }` in a run spec). */
  workspaces: workspacesConfigSchema.prefault({}),
  telemetry: telemetryConfigSchema,
});

/**
 * A fargate executor's tasks run in AWS, not on this machine: they read their manifests and write
 * their results in the server's storage, which must then be an S3 bucket (a task cannot read a
 * local folder), and they open their secrets with the server's cipher key, which must then be a
 * KMS key their task role may use (a key file cannot be handed to a task without handing it out).
 */
function fargateNeedsAwsSeams(config: z.output<typeof serverConfigShape>, context: z.core.$RefinementCtx): void {
  if (config.executor.kind !== 'fargate') return;
  if (config.storage.kind !== 's3')
    context.addIssue({
      code: 'custom',
      path: ['storage'],
      message: `must be an S3 bucket when executor.kind is fargate: Fargate tasks run in AWS and cannot read the server's local folder; set storage: { kind: s3, bucket: <bucket>, region: <region> } (the task role needs s3:GetObject and s3:PutObject on it)`,
    });
  if (config.cipher.kind !== 'kms')
    context.addIssue({
      code: 'custom',
      path: ['cipher'],
      message: `must be a KMS key when executor.kind is fargate: a task opens its secrets with the cipher's key, and a local key file cannot reach a task without being handed out; set cipher: { kind: kms, keyId: <symmetric ENCRYPT_DECRYPT key or alias> } (the task role needs kms:Decrypt on it)`,
    });
}

/**
 * A fargate executor's agent attempts reach the model gateway from their tasks, over the VPC: the
 * URL they are given (`gateway.publicUrl`; the listener's own address otherwise) must be one a task
 * can reach, not this host's loopback, which in a task is the task's own.
 */
function fargateTasksReachTheGateway(config: z.output<typeof serverConfigShape>, context: z.core.$RefinementCtx): void {
  if (config.executor.kind !== 'fargate' || !config.gateway.enabled) return;
  const publicUrl = config.gateway.publicUrl;
  const problem =
    publicUrl === undefined ? 'must be set' : isLoopbackHost(new URL(publicUrl).hostname) ? `must not name this host's loopback (${publicUrl})` : undefined;
  if (problem === undefined) return;
  context.addIssue({
    code: 'custom',
    path: ['gateway', 'publicUrl'],
    message: `${problem} when executor.kind is fargate and the gateway is enabled: tasks reach the gateway over the VPC, and a task's loopback is its own; set gateway.publicUrl to the server's address as tasks reach it (http://10.0.1.5:7411), gateway.host to an address they reach (0.0.0.0) and gateway.port to the port the tasks' security group is let in on (docs/operations/aws.md)`,
  });
}

/**
 * A kubernetes executor's pods run the same worker as Fargate tasks, on other machines: they read
 * their manifests and write their results in the server's storage, which must then be an S3 bucket
 * (S3 or S3-compatible, as MinIO or Ceph in the cluster), and open their secrets with the server's
 * cipher key, which must then be a KMS key (a key file cannot reach a pod without being handed out).
 */
function kubernetesNeedsS3AndKms(config: z.output<typeof serverConfigShape>, context: z.core.$RefinementCtx): void {
  if (config.executor.kind !== 'kubernetes') return;
  if (config.storage.kind !== 's3')
    context.addIssue({
      code: 'custom',
      path: ['storage'],
      message: `must be an S3 bucket when executor.kind is kubernetes: attempt pods run on the cluster's nodes and cannot read the server's local folder; set storage: { kind: s3, bucket: <bucket>, region: <region> } (an S3-compatible store's endpoint with endpoint: and forcePathStyle: true), and list its address in executor.network.egress`,
    });
  if (config.cipher.kind !== 'kms')
    context.addIssue({
      code: 'custom',
      path: ['cipher'],
      message: `must be a KMS key when executor.kind is kubernetes: a pod opens its secrets with the cipher's key, and a local key file cannot reach a pod without being handed out; set cipher: { kind: kms, keyId: <symmetric ENCRYPT_DECRYPT key or alias> } (the pods' identity needs kms:Decrypt on it)`,
    });
}

/**
 * A kubernetes executor's agent attempts reach the model gateway from their pods: the URL they are
 * given must be one a pod can reach, not this host's loopback, which in a pod is the pod's own.
 */
function kubernetesPodsReachTheGateway(config: z.output<typeof serverConfigShape>, context: z.core.$RefinementCtx): void {
  if (config.executor.kind !== 'kubernetes' || !config.gateway.enabled) return;
  const publicUrl = config.gateway.publicUrl;
  const problem =
    publicUrl === undefined ? 'must be set' : isLoopbackHost(new URL(publicUrl).hostname) ? `must not name this host's loopback (${publicUrl})` : undefined;
  if (problem === undefined) return;
  context.addIssue({
    code: 'custom',
    path: ['gateway', 'publicUrl'],
    message: `${problem} when executor.kind is kubernetes and the gateway is enabled: attempt pods reach the gateway over the cluster's network, and a pod's loopback is its own; set gateway.publicUrl to the server's address as pods reach it (its Service, http://cairn.cairn.svc:7411), gateway.host to an address they reach (0.0.0.0), and list the gateway's address and port in executor.network.egress (docs/operations/kubernetes.md)`,
  });
}

/**
 * With the gateway on, an attempt may call only its item's `runtime.model` and the models
 * `gateway.models` lists for its adapter. A runtime's default model (`runtimes.<adapter>.model`) is
 * what an item naming none runs with: one the gateway does not allow would have every call of such
 * an item refused, and the agent CLI end saying something else.
 */
function runtimeModelsAllowedByGateway(config: z.output<typeof serverConfigShape>, context: z.core.$RefinementCtx): void {
  if (!config.gateway.enabled) return;
  for (const [adapter, runtime] of Object.entries(config.runtimes)) {
    const model = runtime?.model;
    if (model === undefined) continue;
    const allowed = config.gateway.models[adapter] ?? [];
    if (allowed.includes(model)) continue;
    context.addIssue({
      code: 'custom',
      path: ['runtimes', adapter, 'model'],
      message: `is ${JSON.stringify(model)}, which the model gateway does not let ${adapter} attempts call: gateway.models.${adapter} ${allowed.length === 0 ? 'lists no model' : `lists only ${allowed.map((name) => JSON.stringify(name)).join(', ')}`}, so every call of an item naming no model would be refused (403, CAIRN_MODEL_NOT_ALLOWED); add it to gateway.models (gateway: { models: { ${adapter}: [${model}] } }), or remove runtimes.${adapter}.model`,
    });
  }
}

/** A trigger may only name templates the config has: a label or command cannot start nothing. */
function triggersNameTemplates(config: z.output<typeof serverConfigShape>, context: z.core.$RefinementCtx): void {
  const known = Object.keys(config.templates);
  const unknown = (name: string, path: (string | number)[]) =>
    context.addIssue({
      code: 'custom',
      path: ['triggers', ...path],
      message: `names the template ${JSON.stringify(name)}, which templates: does not have (${known.length === 0 ? 'it has none' : `it has ${known.join(', ')}`}); add it under templates:, or name one of those`,
    });
  const github = config.triggers.github;
  if (github !== undefined) {
    for (const [label, template] of Object.entries(github.labels)) if (!known.includes(template)) unknown(template, ['github', 'labels', label]);
    github.commandTemplates?.forEach((template, index) => {
      if (!known.includes(template)) unknown(template, ['github', 'commandTemplates', index]);
    });
  }
  const { linear, slack } = config.triggers;
  for (const [label, template] of Object.entries(linear?.labels ?? {})) if (!known.includes(template)) unknown(template, ['linear', 'labels', label]);
  for (const [user, template] of Object.entries(linear?.assignees ?? {})) if (!known.includes(template)) unknown(template, ['linear', 'assignees', user]);
  for (const [command, template] of Object.entries(slack?.commands ?? {})) if (!known.includes(template)) unknown(template, ['slack', 'commands', command]);
  if (slack?.mention !== undefined && !known.includes(slack.mention)) unknown(slack.mention, ['slack', 'mention']);
  // A webhook fills its template's parameters from the payload: each it maps must be one the
  // template declares, and each the template needs (no default) must be mapped, or every delivery
  // would be refused.
  for (const [name, webhook] of Object.entries(config.triggers.webhooks)) {
    const template = config.templates[webhook.template];
    if (template === undefined) {
      unknown(webhook.template, ['webhooks', name, 'template']);
      continue;
    }
    for (const parameter of Object.keys(webhook.parameters))
      if (!Object.hasOwn(template.parameters, parameter))
        context.addIssue({
          code: 'custom',
          path: ['triggers', 'webhooks', name, 'parameters', parameter],
          message: `is not a parameter of the template ${webhook.template} (it takes ${Object.keys(template.parameters).join(', ') || 'none'}); declare it under templates.${webhook.template}.parameters, or remove it here`,
        });
    for (const [parameter, declared] of Object.entries(template.parameters))
      if (declared.default === undefined && !Object.hasOwn(webhook.parameters, parameter))
        context.addIssue({
          code: 'custom',
          path: ['triggers', 'webhooks', name, 'parameters'],
          message: `must take the template ${webhook.template}'s parameter ${parameter} (it has no default) from the payload: add ${parameter}: /pointer/to/its/value`,
        });
  }
}

/** Whether `hostname` (of a URL) names this host's loopback. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * `cairn.config.(yaml|json)`: where the server keeps its data and which seams it composes. Paths
 * are relative to the config file; every seam's path defaults to a place under `dataDirectory`.
 */
export const serverConfigSchema = serverConfigShape.superRefine((config, context) => {
  fargateNeedsAwsSeams(config, context);
  fargateTasksReachTheGateway(config, context);
  kubernetesNeedsS3AndKms(config, context);
  kubernetesPodsReachTheGateway(config, context);
  runtimeModelsAllowedByGateway(config, context);
  triggersNameTemplates(config, context);
});

export type ServerConfig = z.output<typeof serverConfigSchema>;
export type StorageConfig = ServerConfig['storage'];
export type AnchorConfig = ServerConfig['anchors'][number];
export type ExecutorConfig = ServerConfig['executor'];
export type ServerConfigInput = z.input<typeof serverConfigSchema>;
