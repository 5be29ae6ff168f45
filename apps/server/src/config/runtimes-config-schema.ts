import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { durationUpTo } from './duration-setting.ts';

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

export type RuntimesConfig = z.output<typeof runtimesConfigSchema>;
