import { isAbsolute } from 'node:path';
import { postgresStateSettingsSchema } from '@cairn/engine';
import { isDurationText, parseDuration } from '@cairn/protocol';
import { z } from 'zod';
import { oidcAuthorizerSettingsSchema } from '@cairn/oidc';
import { oidcSignInClientsShape } from '../auth/oidc-sign-in-settings.ts';
import { gatewaySettingsSchema } from '../gateway/gateway-settings.ts';
import { forgesConfigSchema } from './forges-config-schema.ts';
import { runTemplateConfigSchema, triggersConfigSchema } from '../triggers/trigger-config-schema.ts';
import { workspacesConfigSchema } from '../workspaces/workspaces-config-schema.ts';

const duration = z.string().refine(isDurationText, 'must be a duration: a whole number and one unit of ms, s, m, h or d (30s, 2m)');

const credentialOptions = ['accessKeyId', 'secretAccessKey', 'sessionToken', 'credentials'] as const;

/**
 * Credentials are never written in a config: the server takes them from the AWS SDK's default
 * chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE and the shared files, or the
 * instance's or task's role). Every AWS seam's options refuse them, saying so.
 */
const noCredentials = Object.fromEntries(
  credentialOptions.map((option) => [
    option,
    z
      .never({
        error: `credentials are never written in the config: the server takes them from the AWS SDK's default chain (the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY environment variables, AWS_PROFILE with the shared files, or an instance or task role); remove ${option}`,
      })
      .optional(),
  ]),
) as Record<(typeof credentialOptions)[number], z.ZodOptional<z.ZodNever>>;

/**
 * Where an S3 seam keeps its objects: the options `@cairn/s3`'s settings share
 * (`s3LocationSettingsShape`), spelled the same way. Written out here rather than imported: the
 * config is read by every server, and a local one never loads the AWS SDK that package pulls in.
 * A test keeps the two lists of option names equal.
 */
const s3LocationShape = {
  /** The bucket (it must exist: Cairn never creates or reconfigures a bucket). */
  bucket: z
    .string({ error: 'must name the bucket, e.g. acme-cairn (Cairn never creates one)' })
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens, e.g. acme-cairn'),
  /** Keys are written under this prefix (`cairn/`); empty: the bucket's root. */
  prefix: z
    .string()
    .refine((prefix) => !prefix.startsWith('/'), "must not start with '/': S3 keys have no leading slash (write cairn/, not /cairn/)")
    .default(''),
  /** The bucket's region; unset: the SDK's default chain (AWS_REGION, the shared config file). */
  region: z.string().min(1, 'must name a region, e.g. eu-west-1').optional(),
  /** An S3-compatible endpoint instead of AWS's (`http://127.0.0.1:7480` for radosgw, MinIO). */
  endpoint: z.url({ protocol: /^https?$/, error: 'must be the http(s) URL of an S3 endpoint, e.g. https://s3.eu-west-1.amazonaws.com' }).optional(),
  /** Address buckets as `endpoint/bucket` rather than `bucket.endpoint` (most S3-compatible servers need it). */
  forcePathStyle: z.boolean({ error: 'must be true or false' }).default(false),
  /** How long one request may take before it is abandoned and retried (milliseconds). */
  requestTimeoutMs: z.int().min(100).max(600_000).default(30_000),
  /** Attempts per operation, the first included, on 5xx, throttling, connection resets and timeouts. */
  maxAttempts: z.int().min(1).max(20).default(5),
  ...noCredentials,
};

/** The option names of an S3 location (a test compares them with `@cairn/s3`'s). */
export const s3LocationOptionNames = Object.keys(s3LocationShape).filter((name) => !(credentialOptions as readonly string[]).includes(name));

/** A config without `kind` is a local one (every config before S3 existed). */
const localByDefault = (value: unknown) =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !('kind' in value) ? { ...value, kind: 'local' } : value;

/**
 * How a KMS seam reaches its key: the options `@cairn/kms`'s settings share (`kmsKeySettingsShape`),
 * written out for the same reason as the S3 ones (a test keeps the names equal).
 */
const kmsKeyShape = {
  /** The key: a key id, a key ARN, an alias (`alias/cairn-checkpoints`) or an alias ARN. */
  keyId: z.string().min(1, 'must be a KMS key id, key ARN or alias, e.g. alias/cairn-checkpoints').max(2048),
  /** The key's region; unset: the SDK's chain (AWS_REGION, the shared config). */
  region: z.string().min(1).optional(),
  /** A KMS-compatible endpoint instead of AWS's (a VPC endpoint). */
  endpoint: z.url({ protocol: /^https?$/, error: 'must be the http(s) URL of a KMS endpoint, e.g. https://kms.eu-west-1.amazonaws.com' }).optional(),
  /** How long one request may take before it is abandoned and retried (milliseconds). */
  requestTimeoutMs: z.int().min(100).max(600_000).default(10_000),
  /** Attempts per KMS call, the first included, on throttling, 5xx, connection resets and timeouts. */
  maxAttempts: z.int().min(1).max(20).default(5),
  ...noCredentials,
};

/** The option names of a KMS key (a test compares them with `@cairn/kms`'s). */
export const kmsKeyOptionNames = Object.keys(kmsKeyShape).filter((name) => !(credentialOptions as readonly string[]).includes(name));

/** A key-file seam (the default, under the data directory) or a KMS key. */
const keyFileOrKms = (kmsUse: string) =>
  z.preprocess(
    localByDefault,
    z.discriminatedUnion(
      'kind',
      [z.strictObject({ kind: z.literal('local'), keyFile: z.string().min(1).optional() }), z.strictObject({ kind: z.literal('kms'), ...kmsKeyShape })],
      { error: `must be 'local' (a key file) or 'kms' (${kmsUse})` },
    ),
  );

/** The signer of checkpoints and manifests: an Ed25519 key file, or an asymmetric KMS key (ECC_NIST_P256, SIGN_VERIFY). */
export const signerConfigSchema = keyFileOrKms('an ECC_NIST_P256 SIGN_VERIFY key');
/** The cipher of secrets: an AES-256-GCM key file, or a symmetric KMS key (envelope encryption with data keys). */
export const cipherConfigSchema = keyFileOrKms('a symmetric ENCRYPT_DECRYPT key');

/** Storage: a local directory (the default) or an S3 bucket and prefix. */
export const storageConfigSchema = z.preprocess(
  localByDefault,
  z.discriminatedUnion(
    'kind',
    [
      z.strictObject({ kind: z.literal('local'), root: z.string().min(1).optional() }),
      z.strictObject({
        kind: z.literal('s3'),
        ...s3LocationShape,
        /**
         * Server-side encryption asked for on every object written: `sse-s3` (S3-managed keys) or
         * `sse-kms` with `keyId`. Unset: the bucket's default encryption applies.
         */
        encryption: z
          .discriminatedUnion(
            'kind',
            [
              z.strictObject({ kind: z.literal('sse-s3') }),
              z.strictObject({ kind: z.literal('sse-kms'), keyId: z.string().min(1, 'must name the KMS key (id, ARN or alias/…)') }),
            ],
            { error: 'must be { kind: sse-s3 } or { kind: sse-kms, keyId: <KMS key id, ARN or alias> }' },
          )
          .optional(),
      }),
    ],
    { error: "must be 'local' (a directory) or 's3' (a bucket)" },
  ),
);

/**
 * An audit anchor: a local directory (`detect`), an S3 Object Lock bucket (`external-immutable`), or
 * an RFC 3161 timestamp authority (`detect`; its tokens make bundles `witnessed`).
 */
export const anchorConfigSchema = z.preprocess(
  localByDefault,
  z.discriminatedUnion(
    'kind',
    [
      z.strictObject({ kind: z.literal('local'), directory: z.string().min(1).optional() }),
      z.strictObject({
        kind: z.literal('s3-object-lock'),
        ...s3LocationShape,
        /** How long each anchored checkpoint is locked (COMPLIANCE mode: nobody can delete or shorten it, the account's root included). */
        retentionDays: z
          .int({ error: 'must be a whole number of days, e.g. 365' })
          .min(1, 'must be at least 1 day')
          .max(36_500, 'must be at most 36500 days (100 years)'),
      }),
      z.strictObject({
        kind: z.literal('rfc3161'),
        /** The TSA's RFC 3161 HTTP endpoint: each checkpoint's SHA-256 is POSTed to it for a timestamp token. */
        url: z.url({ protocol: /^https?$/, error: "must be the http(s) URL of the TSA's RFC 3161 endpoint, e.g. https://tsa.example/tsr" }),
        /** The TSA's signing certificate (PEM file, relative to the config): replies must verify with it, and verifiers in this folder trust it. */
        trustedCertificate: z.string().min(1, "must name the TSA certificate's PEM file, e.g. ./keys/tsa.pem"),
        /** How long one request may take before the TSA counts as unavailable (the checkpoint stays queued). */
        timeoutMs: z.int().min(100).max(300_000).optional(),
      }),
    ],
    {
      error: "must be 'local' (a directory), 's3-object-lock' (an S3 bucket with Object Lock) or 'rfc3161' (a timestamp authority: url and trustedCertificate)",
    },
  ),
);

/**
 * Where tasks run: on this machine, each in a bubblewrap sandbox (`local`, the default), or as AWS
 * ECS Fargate tasks of the worker's task definition (`fargate`; the container is the sandbox). The
 * fargate options are `@cairn/fargate`'s settings of the same names (a test keeps them equal); its
 * storage, cipher and trusted key are the server's own (see `fargateNeedsAwsSeams`).
 */
export const executorConfigSchema = z.preprocess(
  localByDefault,
  z.discriminatedUnion(
    'kind',
    [
      z.strictObject({
        kind: z.literal('local'),
        /** `none` is for development only: tasks then run without any isolation. */
        sandbox: z.enum(['bubblewrap', 'none'], { error: "must be 'bubblewrap' or 'none' (development only)" }).default('bubblewrap'),
        workRoot: z.string().min(1).optional(),
        /**
         * Each sandbox's memory and each attempt's disk, in bytes: `@cairn/local`'s `limits` of the
         * same names and bounds (a test keeps them equal); unset, its defaults (4 GiB, 4 GiB, 1 GiB).
         * An item over one fails naming it (CAIRN_ATTEMPT_MEMORY_EXCEEDED, CAIRN_ATTEMPT_DISK_EXCEEDED).
         */
        limits: z
          .strictObject({
            memoryBytes: z.int().min(67_108_864).optional(),
            workspaceBytes: z.int().min(16_777_216).max(17_592_186_044_416).optional(),
            tmpBytes: z.int().min(1_048_576).max(1_099_511_627_776).optional(),
          })
          .optional(),
        /**
         * Snapshots extracted once on this machine and each attempt's workspace laid over its
         * snapshot (`@cairn/local`'s `snapshotCache`, same names and bounds: a test keeps them
         * equal); on by default, 10 GiB and a week unused at most, each snapshot looked over at most
         * every 10 s. `cairn doctor` says whether this
         * machine can (root, overlayfs, idmapped mounts); where it cannot, attempts extract their
         * snapshots, at a cost that grows with the workspace.
         */
        snapshotCache: z
          .strictObject({
            enabled: z.boolean().optional(),
            maxBytes: z.int().min(0).optional(),
            maxAgeHours: z.number().positive().optional(),
            checkEverySeconds: z.number().min(0).optional(),
          })
          .optional(),
      }),
      z.strictObject({
        kind: z.literal('fargate'),
        /** The ECS cluster tasks run in (name or ARN). */
        cluster: z.string({ error: 'must name the ECS cluster (name or ARN), e.g. cairn' }).min(1, 'must name the ECS cluster (name or ARN), e.g. cairn'),
        /** The worker's task definition: family, family:revision or ARN (pin a revision in production). */
        taskDefinition: z
          .string({ error: 'must name the task definition (family, family:revision or ARN), e.g. cairn-worker:3' })
          .min(1, 'must name the task definition (family, family:revision or ARN), e.g. cairn-worker:3'),
        /** The container that runs `cairn-worker` in the task definition. */
        containerName: z.string().min(1).max(255).default('cairn-worker'),
        /** Subnets of the tasks' network interfaces: private ones, with a route to S3 and KMS. */
        subnets: z
          .array(z.string().min(1), { error: 'must list the subnets tasks run in, e.g. [subnet-0abc…]' })
          .min(1, 'must name at least one subnet (subnet-…)')
          .max(16, 'ECS accepts at most 16 subnets'),
        /** Security groups of the tasks' network interfaces; the VPC's default group when empty. */
        securityGroups: z.array(z.string().min(1)).max(5, 'ECS accepts at most 5 security groups').default([]),
        /** Give each task a public IP. Off: tasks reach S3 and KMS through a NAT gateway or VPC endpoints. */
        assignPublicIp: z.boolean({ error: 'must be true or false' }).default(false),
        /** Capacity providers instead of launch type FARGATE (e.g. FARGATE_SPOT with a FARGATE base). */
        capacityProviderStrategy: z
          .array(
            z.strictObject({
              capacityProvider: z.string().min(1, 'must name a capacity provider, e.g. FARGATE_SPOT'),
              weight: z.int().min(0).max(1_000).optional(),
              base: z.int().min(0).max(100_000).optional(),
            }),
          )
          .min(1)
          .max(20)
          .optional(),
        /** The Fargate platform version; ECS's LATEST when unset. */
        platformVersion: z.string().min(1).optional(),
        /** The cluster's region; unset: the SDK's chain (AWS_REGION, the shared config). */
        region: z.string().min(1, 'must name a region, e.g. eu-west-1').optional(),
        /** An ECS-compatible endpoint instead of AWS's (a VPC endpoint). */
        endpoint: z.url({ protocol: /^https?$/, error: 'must be the http(s) URL of an ECS endpoint, e.g. https://ecs.eu-west-1.amazonaws.com' }).optional(),
        /** How long one ECS request may take before it is abandoned and retried (milliseconds). */
        requestTimeoutMs: z.int().min(100).max(600_000).default(10_000),
        /** Attempts per ECS call, the first included, on throttling, 5xx, connection resets and timeouts. */
        maxAttempts: z.int().min(1).max(20).default(5),
        ...noCredentials,
      }),
    ],
    { error: "must be 'local' (bubblewrap sandboxes on this machine) or 'fargate' (AWS ECS Fargate tasks)" },
  ),
);

/** The option names of a fargate executor (a test compares them with `@cairn/fargate`'s settings). */
export const fargateExecutorOptionNames = Object.keys(executorConfigSchema.out.options[1].shape).filter(
  (name) => name !== 'kind' && !(credentialOptions as readonly string[]).includes(name),
);

/** A duration no longer than `limit` (what the runtime accepts), named in the message. */
const durationUpTo = (limit: string) =>
  duration.refine((text) => !isDurationText(text) || parseDuration(text) <= parseDuration(limit), `must be at most ${limit}`);

/** A secret's name in the server's secret store (`cairn secret set NAME`): never the value itself. */
const secretName = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]{0,127}$/,
    'must name a secret of the server (an environment variable name such as OPENAI_API_KEY, set with `cairn secret set`), never the key itself',
  );

/** Refuses a key written inline where a secret's name belongs, saying what to write instead. */
const noInlineKey = (runtime: string) => ({
  apiKey: z
    .never({ error: `an API key is never written in the config: store it with \`cairn secret set NAME\` and name it in runtimes.${runtime}.apiKeySecret` })
    .optional(),
});

/**
 * An agent runtime for items whose `runtime.adapter` is `openai-compatible`: a tool-calling loop the
 * worker runs on the host against a Chat Completions endpoint (its `exec` tool runs in the sandbox).
 */
const openAiCompatibleRuntimeConfigSchema = z.strictObject({
  /** The API root `/chat/completions` is appended to. */
  baseUrl: z.url({ protocol: /^https?$/, error: 'must be the http(s) URL of the API root, e.g. https://api.openai.com/v1 or http://127.0.0.1:11434/v1' }),
  /** The model items get unless they name one (`runtime.model`). */
  model: z.string().min(1, 'must name a model, e.g. gpt-4.1').optional(),
  /** The secret holding the API key, sent as `Authorization: Bearer`; items using the runtime must name it in `secrets`. */
  apiKeySecret: secretName.optional(),
  ...noInlineKey('openai-compatible'),
  /** Model requests per item, unless the item sets `runtime.maxTurns`. */
  maxTurns: z.int().min(1).max(10_000).default(20),
  /** How long one model request may take before it is retried. */
  requestTimeout: durationUpTo('1h').default('5m'),
  /** Retries of a request that failed with 408, 429, 5xx, a connection error or a timeout. */
  maxRetries: z.int().min(0).max(10).default(2),
  /** How long one `exec` tool call may run in the sandbox before it is killed. */
  execTimeout: durationUpTo('24h').default('5m'),
  /** The most of a file, or of each output stream of an `exec`, handed back to the model. */
  maxToolOutputBytes: z.int().min(256).max(16_777_216).default(65_536),
});

/**
 * An agent runtime for items whose `runtime.adapter` is `claude-code`: the Claude Code CLI, run in the
 * sandbox. `command` is a program name looked up on the sandbox's PATH (under /usr) or an absolute
 * path; `package` is the folder of an installed `@anthropic-ai/claude-code`, run with `node`.
 */
const claudeCodeRuntimeConfigSchema = z
  .strictObject({
    command: z
      .string()
      .min(1, 'must name the claude program')
      .refine(
        (value) => !value.includes('/') || isAbsolute(value),
        'must be a program name (looked up on PATH) or an absolute path, e.g. /opt/claude/bin/claude',
      )
      .optional(),
    package: z
      .string()
      .min(1)
      .refine(isAbsolute, 'must be the absolute path of an installed @anthropic-ai/claude-code folder, e.g. /opt/claude/node_modules/@anthropic-ai/claude-code')
      .optional(),
    /** The model items get unless they name one (`--model`). */
    model: z.string().min(1, 'must name a model, e.g. claude-sonnet-4-5').optional(),
    /** Agent turns per item (`--max-turns`), unless the item sets `runtime.maxTurns`. */
    maxTurns: z.int().min(1).max(10_000).optional(),
    /** `--permission-mode`: in print mode nobody can grant a permission. */
    permissionMode: z
      .enum(['default', 'acceptEdits', 'bypassPermissions', 'plan'], { error: 'must be one of default, acceptEdits, bypassPermissions, plan' })
      .default('acceptEdits'),
    /** The secret holding the Anthropic API key, handed to the CLI as ANTHROPIC_API_KEY; items using the runtime must name it in `secrets`. */
    apiKeySecret: secretName.optional(),
    ...noInlineKey('claude-code'),
  })
  .refine((runtime) => !(runtime.command !== undefined && runtime.package !== undefined), { message: 'set command or package, not both', path: ['package'] });

/**
 * An agent runtime for items whose `runtime.adapter` is `codex`: the Codex CLI (its native binary),
 * run in the sandbox against the model gateway (`gateway.enabled`), which holds the OpenAI key.
 */
const codexRuntimeConfigSchema = z.strictObject({
  command: z
    .string()
    .min(1, 'must name the codex program')
    .refine((value) => !value.includes('/') || isAbsolute(value), 'must be a program name (looked up on PATH) or an absolute path, e.g. /opt/codex/bin/codex')
    .optional(),
  /** The model items get unless they name one (`-m`); one of Codex's own catalogue (`codex debug models`), which decides its tools. */
  model: z.string().min(1, 'must name a model, e.g. gpt-5.5').optional(),
});

/** The agent runtimes this server runs, by adapter name; an item naming another is refused at submit. */
export const runtimesConfigSchema = z.strictObject({
  'openai-compatible': openAiCompatibleRuntimeConfigSchema.optional(),
  'claude-code': claudeCodeRuntimeConfigSchema.optional(),
  codex: codexRuntimeConfigSchema.optional(),
});

/** The config's options, before the checks across seams (`fargateNeedsAwsSeams`). */
const serverConfigShape = z.strictObject({
  /** Where the database, storage, keys and anchors live by default. */
  dataDirectory: z.string().min(1, 'must name a directory, e.g. ./cairn-data'),
  server: z
    .strictObject({
      /** Loopback by default: any other address will require tokens. */
      host: z.string().min(1).default('127.0.0.1'),
      port: z.int().min(0).max(65_535).default(7600),
      /**
       * The server's address as people reach it (`https://cairn.example.com`): a delivered change
       * request links the run's evidence under it. Unset, the links are paths (`/v1/runs/...`).
       */
      publicUrl: z.url({ protocol: /^https?$/, error: 'must be the http(s) URL people reach this server at, e.g. https://cairn.example.com' }).optional(),
      /**
       * `tokens`: every API request carries a bearer token with the scope it needs. `loopback-operator`:
       * a laptop's single operator, no tokens, loopback only (refused on any other host).
       */
      auth: z.enum(['tokens', 'loopback-operator'], { error: "must be 'tokens' or 'loopback-operator' (loopback hosts only)" }).default('tokens'),
      /**
       * Sign-in with an OpenID provider (`@cairn/oidc`): with `auth: tokens`, a bearer JWT it issued
       * for `audience` is accepted beside Cairn's tokens, the person being the actor; `roles` and
       * `grants` give people scopes; `dashboard` and `cli` name the clients people sign in
       * through (docs/operations/sign-in-with-oidc.md).
       */
      oidc: oidcAuthorizerSettingsSchema.safeExtend(oidcSignInClientsShape).optional(),
      /**
       * Host names this server answers to (the `Host` header) besides IP addresses and localhost,
       * e.g. the name of its load balancer: a request naming any other is refused, so a page on a
       * name its author controls, pointed at this machine (DNS rebinding), cannot reach the API.
       * Unset on a server bound to every interface (0.0.0.0, ::), every name is answered.
       */
      allowedHosts: z
        .array(
          z
            .string()
            .regex(
              /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i,
              'must be a host name, e.g. cairn.example.com (no scheme, port or path)',
            ),
        )
        .max(100)
        .default([]),
      /**
       * The most connections held at once; one more is answered 503 and closed. Never more than half
       * the open-files limit (`ulimit -n`): the rest stays for the engine, storage and sandboxes.
       */
      maxConnections: z.int().min(1).max(1_000_000).optional(),
      /** The largest upload (a workspace snapshot), in MiB: held in memory while it is stored. */
      uploadLimitMiB: z.int().min(1).max(4_096).default(256),
      /**
       * How long a connection may stay silent (`idle`), take to send its headers (`headers`) or its
       * whole request (`request`), and wait between two requests (`keepAlive`); how long a stop
       * waits for open requests and event streams before it cuts them (`shutdownGrace`). Durations.
       * An event stream is never idle: it sends a comment every 15 s.
       */
      timeouts: z
        .strictObject({
          idle: duration.default('60s'),
          headers: duration.default('10s'),
          request: duration.default('60s'),
          keepAlive: duration.default('5s'),
          shutdownGrace: duration.default('10s'),
        })
        .prefault({}),
      /** The lowest log level written (`CAIRN_LOG_LEVEL` overrides it). */
      logLevel: z
        .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { error: 'must be one of fatal, error, warn, info, debug, trace, silent' })
        .default('info'),
    })
    .prefault({}),
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
  engine: z
    .strictObject({
      concurrency: z.int().min(1).max(100_000).default(16),
      queues: z.record(z.string().min(1), z.strictObject({ concurrency: z.int().min(1).max(100_000) })).default({}),
      /**
       * Anti-starvation for run and item priorities: a ready item rises one priority level for every
       * this many seconds it waits, so a priority-1 item waits at most 4 × this behind fresh
       * priority-5 ones (the engine's `priorityAgingSeconds`).
       */
      priorityAgingSeconds: z.int().min(1).max(31_536_000).default(300),
      /** Names this server's log in its checkpoints. */
      origin: z.string().min(1).default('cairn:server'),
      /**
       * Where the engine's state lives (ADR 0023). `sqlite` (the default): one file in the data
       * directory, one server. `postgres`: a PostgreSQL database shared by any number of server
       * replicas, one of which runs the engine at a time; the connection falls back to libpq's
       * variables (`PGHOST`, `PGPASSWORD`, ...) for what it does not name.
       */
      state: z
        .discriminatedUnion(
          'kind',
          [
            z.strictObject({
              kind: z.literal('sqlite'),
              /** The database file; `<dataDirectory>/cairn.db` by default. */
              path: z.string().min(1, 'must name a file, e.g. ./cairn-data/cairn.db').optional(),
            }),
            postgresStateSettingsSchema,
          ],
          { error: "must be { kind: sqlite } or { kind: postgres, host, database, ... } (config.engine.state.kind is 'sqlite' or 'postgres')" },
        )
        .prefault({ kind: 'sqlite' }),
    })
    .prefault({}),
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
  /** What starts runs from templates besides the API: GitHub webhook deliveries (`github`), Standard Webhooks (`webhooks`). */
  triggers: triggersConfigSchema.prefault({}),
  /** Workspaces the server fetches from git repositories (`workspace: { repository, ref }` in a run spec). */
  workspaces: workspacesConfigSchema.prefault({}),
  /** OpenTelemetry: off unless `traces` is set (nothing is loaded until then). */
  telemetry: z
    .strictObject({
      traces: z
        .strictObject({
          /** An OTLP/HTTP traces receiver; spans are posted to it as JSON. */
          otlpEndpoint: z.url({
            protocol: /^https?$/,
            hostname: z.regexes.hostname,
            error: 'must be the http(s) URL of an OTLP/HTTP traces receiver, e.g. http://collector:4318/v1/traces',
          }),
          /** The `service.name` the spans carry. */
          serviceName: z.string().min(1, 'must name the service, e.g. cairn').default('cairn'),
          /** Sent with every export, e.g. a collector's `authorization`. */
          headers: z.record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an HTTP header name'), z.string()).default({}),
        })
        .optional(),
    })
    .prefault({}),
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

function isLoopbackHost(hostname: string): boolean {
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
  triggersNameTemplates(config, context);
});

export type ServerConfig = z.output<typeof serverConfigSchema>;
export type StorageConfig = ServerConfig['storage'];
export type AnchorConfig = ServerConfig['anchors'][number];
export type ExecutorConfig = ServerConfig['executor'];
export type RuntimesConfig = z.output<typeof runtimesConfigSchema>;
export type ServerConfigInput = z.input<typeof serverConfigSchema>;
