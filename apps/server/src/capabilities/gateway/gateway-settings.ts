import { z } from 'zod';
import { modelPriceOverridesSchema } from './model-prices.ts';
import { providerQuotasSchema } from './provider-quotas.ts';

const providerSchema = z.strictObject({
  /** The provider's API root: `https://api.anthropic.com` (the gateway adds /v1/messages), `https://api.openai.com/v1`. */
  baseUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  /** The server secret (`cairn secret set NAME`) holding the provider's API key: it stays in the server. */
  apiKeySecret: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a secret name')
    .optional(),
});

/** `gateway` in the server config: the model gateway (ADR 0033). */
export const gatewaySettingsSchema = z.strictObject({
  /** Whether agent items reach their models through the gateway (their sandbox then needs no network for it). */
  enabled: z.boolean().default(false),
  /** Where it listens: loopback by default, where the local executor's workers reach it. */
  host: z.string().min(1).default('127.0.0.1'),
  /** Its port; 0 picks a free one. */
  port: z.int().min(0).max(65_535).default(0),
  /** The URL tasks are given when it is not this host's (Fargate tasks: the address of the server in the VPC). */
  publicUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  /** Its credential key (made when missing); replicas share one file. Default: gateway.key in the data directory. */
  credentialKeyFile: z.string().min(1).optional(),
  providers: z
    .strictObject({
      anthropic: providerSchema.optional(),
      openai: providerSchema.optional(),
    })
    .prefault({}),
  /** Which provider each agent adapter's models are on. */
  adapters: z
    .record(z.string().min(1), z.enum(['anthropic', 'openai']))
    .default({ 'claude-code': 'anthropic', 'openai-compatible': 'openai', codex: 'openai' }),
  /** Models an attempt may call beside the one its item names (an adapter's helper model, say), by adapter. */
  models: z.record(z.string().min(1), z.array(z.string().min(1))).default({}),
  /** Prices per million tokens that win over the bundled price table, by model. */
  prices: modelPriceOverridesSchema.default({}),
  /** Provider quotas shared by every run; see docs/guides/budgets-and-quotas.md. */
  quotas: providerQuotasSchema.default({}),
  /** The longest a call waits for room under a quota before it is refused (429). */
  maxQuotaWaitMs: z.int().min(0).max(3_600_000).default(120_000),
  /**
   * The longest a call waits while its run awaits a budget raise (`awaiting-budget`) before it is
   * refused (402, CAIRN_BUDGET_EXCEEDED): the agent is kept alive meanwhile (102 Processing).
   */
  maxBudgetWaitMs: z.int().min(0).max(86_400_000).default(600_000),
  /**
   * On PostgreSQL, where the replicas share the quotas: how long a call's room lasts unless the
   * replica holding it renews it (every third of this). A replica that dies mid-call holds room for
   * at most this long.
   */
  quotaLeaseMs: z.int().min(1_000).max(600_000).default(15_000),
  /**
   * The output tokens a call that names no limit (`max_tokens`, `max_completion_tokens`,
   * `max_output_tokens`) is taken to be able to spend: what is counted for a call answered without
   * a usage report and nothing else to go by.
   */
  defaultMaxOutputTokens: z.int().min(1).max(10_000_000).default(8_192),
  /** The largest request body the gateway takes. */
  maxRequestBytes: z
    .int()
    .min(1_024)
    .max(256 * 1024 * 1024)
    .default(32 * 1024 * 1024),
  /**
   * The most bytes of model-call bodies (requests and answers) one attempt may have stored: a call
   * that would pass it is refused (402, CAIRN_BUDGET_EXCEEDED, naming this option) and the attempt
   * ends. A refused call stores its body only when small, so refusals never count much.
   */
  maxStoredBytesPerAttempt: z
    .int()
    .min(1_024)
    .max(1024 * 1024 * 1024 * 1024)
    .default(1024 * 1024 * 1024),
});

export type GatewaySettings = z.output<typeof gatewaySettingsSchema>;
export type GatewaySettingsInput = z.input<typeof gatewaySettingsSchema>;
