import type { RuntimeAdapterV1, RuntimeInvocation, RuntimeResult } from '@cairn/core';
import { CairnError, parseSettings } from '@cairn/protocol';
import { z } from 'zod';
import { CommandRuntime, processLaunchSettings } from '../command-runtime.ts';
import { binarySetting, cliNotInstalled, cliStartFailure, requireAgentSpec, type AgentCli } from './agent-cli.ts';
import { findProgram } from './find-program.ts';

const codex: AgentCli = { adapter: 'codex', title: 'Codex CLI', install: 'npm install -g @openai/codex', settingsPath: 'worker.codexRuntime' };

/** Settings of `createCodexRuntime`, checked at construction. */
export const codexRuntimeSettingsSchema = z.strictObject({
  /** The Codex CLI: a name looked up on the runtime's PATH, or an absolute path (the native `codex` binary). */
  binary: binarySetting('codex'),
  /** `-m` for specs that name no model (`runtime.model` wins). */
  defaultModel: z.string().min(1, 'must not be empty').optional(),
  /** What someone whose CLI is missing is told to do, in the host's own terms (a server names its config option). */
  setupHint: z.string().min(1).optional(),
  // launch (the sandbox around each process) and killGraceMs, as the command runtime's.
  ...processLaunchSettings,
});

export type CodexRuntimeSettings = z.input<typeof codexRuntimeSettingsSchema>;

/**
 * Runs an `agent` spec whose adapter is `codex` with the Codex CLI, non-interactively, in the
 * workspace: `codex exec --json` against one model provider, `cairn`, whose base URL is the
 * runtime's `OPENAI_BASE_URL` (the model gateway's, ADR 0033; the OpenAI API without one) and whose
 * key is its `OPENAI_API_KEY`, over the Responses API (the only one this CLI speaks). Codex's own
 * sandbox and approvals are off (the runtime is sandboxed from outside, and nobody could approve),
 * and so are what would call elsewhere: analytics, the update check, the plugin sync (a git clone
 * from github.com). Its home (`CODEX_HOME`, which it requires to exist) is made in the runtime's
 * /tmp, outside the workspace. Its JSON events go to stdout, its exit code is the result.
 */
export class CodexRuntime implements RuntimeAdapterV1 {
  readonly specificationVersion = 'v1';
  readonly kind = 'codex';
  readonly #settings: z.output<typeof codexRuntimeSettingsSchema>;
  readonly #commands: CommandRuntime;

  constructor(settings: CodexRuntimeSettings = {}) {
    this.#settings = parseSettings(codexRuntimeSettingsSchema, settings, 'worker.codexRuntime');
    const { launch, killGraceMs } = this.#settings;
    this.#commands = new CommandRuntime({ killGraceMs, ...(launch ? { launch } : {}) });
  }

  async run(invocation: RuntimeInvocation): Promise<RuntimeResult> {
    const { spec, env, signal } = invocation;
    requireAgentSpec(codex, spec);
    const model = spec.model ?? this.#settings.defaultModel;
    if (model === undefined)
      throw new CairnError('CAIRN_RUNTIME_FAILED', "The codex runtime has no model to ask: set runtime.model in the item or the runtime's default model.", {
        path: 'runtime.model',
      });
    if (signal.aborted) return { exitCode: null, aborted: true };
    const program = await findProgram(this.#settings.binary, env['PATH']);
    if (program === undefined) throw cliNotInstalled(codex, this.#settings.binary, env['PATH'], this.#settings.setupHint);
    const home = `${env['TMPDIR'] ?? '/tmp'}/.codex`;
    const baseUrl = env['OPENAI_BASE_URL'] ?? 'https://api.openai.com/v1';
    const argv = [
      // Codex refuses to start without its home: made first, by absolute path (the runtime's PATH may be empty).
      '/bin/sh',
      '-c',
      '/bin/mkdir -p "$CODEX_HOME" && exec "$@"',
      'codex',
      program,
      'exec',
      '--json',
      '--skip-git-repo-check',
      '--dangerously-bypass-approvals-and-sandbox',
      '--disable',
      'plugins',
      ...['analytics.enabled=false', 'check_for_update_on_startup=false', 'model_provider="cairn"', 'model_providers.cairn.name="cairn"']
        .concat([
          `model_providers.cairn.base_url=${JSON.stringify(baseUrl)}`,
          'model_providers.cairn.env_key="OPENAI_API_KEY"',
          'model_providers.cairn.wire_api="responses"',
        ])
        .flatMap((setting) => ['-c', setting]),
      '-m',
      model,
      // The prompt after `--`, so one starting with `-` is not read as a flag.
      '--',
      spec.prompt,
    ];
    try {
      return await this.#commands.run({ ...invocation, env: { CODEX_HOME: home, ...env }, spec: { kind: 'command', argv } });
    } catch (error) {
      throw cliStartFailure(codex, error, program, (cause) => cliNotInstalled(codex, this.#settings.binary, env['PATH'], this.#settings.setupHint, cause));
    }
  }
}

/** Creates a runtime adapter for `codex` agent specs (see `CodexRuntime`). */
export function createCodexRuntime(settings: CodexRuntimeSettings = {}): CodexRuntime {
  return new CodexRuntime(settings);
}
