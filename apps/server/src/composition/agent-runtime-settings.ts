import { parseDuration } from '@cairn/protocol';
import type { LocalExecutorSettings } from '@cairn/local';
import type { RuntimesConfig } from '../config/runtimes-config-schema.ts';

/** What the config's `runtimes` section makes of the local executor and of submit's checks. */
export interface AgentRuntimeSettings {
  /** The local executor's `openAiCompatible` and `claudeCode` settings. */
  readonly executor: Pick<LocalExecutorSettings, 'openAiCompatible' | 'claudeCode' | 'codex'>;
  /** The adapter names items may use: exactly the configured runtimes. */
  readonly adapters: string[];
  /** Per adapter, the secret its API key is in, which an item using it must name. */
  readonly adapterSecrets: Record<string, string[]>;
}

/**
 * Turns `runtimes:` into the runtimes' settings. An API key is only ever a secret's *name*: the
 * runtime reads the value from the item's environment, where it arrives as the item's own secret
 * (granted to its submitter, redacted from logs), never from the config or the server's environment.
 */
export function agentRuntimeSettings(runtimes: RuntimesConfig): AgentRuntimeSettings {
  const openAi = runtimes['openai-compatible'];
  const claude = runtimes['claude-code'];
  const codex = runtimes.codex;
  const adapterSecrets: Record<string, string[]> = {};
  if (openAi?.apiKeySecret !== undefined) adapterSecrets['openai-compatible'] = [openAi.apiKeySecret];
  if (claude?.apiKeySecret !== undefined) adapterSecrets['claude-code'] = [claude.apiKeySecret];
  return {
    executor: {
      ...(openAi
        ? {
            openAiCompatible: {
              baseUrl: openAi.baseUrl,
              ...(openAi.model === undefined ? {} : { model: openAi.model }),
              ...(openAi.apiKeySecret === undefined ? {} : { apiKeyEnv: openAi.apiKeySecret }),
              maxTurns: openAi.maxTurns,
              requestTimeoutMs: parseDuration(openAi.requestTimeout, 'config.runtimes.openai-compatible.requestTimeout'),
              maxRetries: openAi.maxRetries,
              execTimeoutMs: parseDuration(openAi.execTimeout, 'config.runtimes.openai-compatible.execTimeout'),
              maxToolOutputBytes: openAi.maxToolOutputBytes,
              modelHint: "runtimes.openai-compatible.model in the server's cairn.config",
            },
          }
        : {}),
      ...(claude
        ? {
            claudeCode: {
              ...(claude.package === undefined ? { binary: claude.command ?? 'claude' } : { package: claude.package }),
              permissionMode: claude.permissionMode,
              ...(claude.model === undefined ? {} : { defaultModel: claude.model }),
              ...(claude.maxTurns === undefined ? {} : { defaultMaxTurns: claude.maxTurns }),
              ...(claude.apiKeySecret === undefined ? {} : { apiKeyEnv: claude.apiKeySecret }),
              setupHint: `Install it on the server under /usr (npm install -g @anthropic-ai/claude-code), or set runtimes.claude-code.command (its absolute path) or runtimes.claude-code.package in the server's cairn.config; \`cairn doctor\` checks it.`,
            },
          }
        : {}),
      ...(codex
        ? {
            codex: {
              binary: codex.command ?? 'codex',
              ...(codex.model === undefined ? {} : { defaultModel: codex.model }),
              setupHint:
                "Install it on the server under /usr (npm install -g @openai/codex), or set runtimes.codex.command (the absolute path of its native binary) in the server's cairn.config.",
            },
          }
        : {}),
    },
    adapters: [...(openAi ? ['openai-compatible'] : []), ...(claude ? ['claude-code'] : []), ...(codex ? ['codex'] : [])],
    adapterSecrets,
  };
}
