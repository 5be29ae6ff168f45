import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { RuntimeAdapterV1, RuntimeInvocation, RuntimeResult } from '@cairn/core';
import { CairnError, parseSettings } from '@cairn/protocol';
import { z } from 'zod';
import { CommandRuntime, processLaunchSettings } from '../command-runtime.ts';
import { binarySetting, cliNotInstalled, cliStartFailure, requireAgentSpec, type AgentCli } from './agent-cli.ts';
import { findProgram } from './find-program.ts';

const claudeCode: AgentCli = {
  adapter: 'claude-code',
  title: 'Claude Code CLI',
  install: 'npm install -g @anthropic-ai/claude-code',
  settingsPath: 'worker.claudeCodeRuntime',
};

/** What the CLI is told so that it makes no call but its model's; an item's own `env` wins. */
const unattended = {
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  DISABLE_TELEMETRY: '1',
  DISABLE_ERROR_REPORTING: '1',
  DISABLE_AUTOUPDATER: '1',
};

/** Settings of `createClaudeCodeRuntime`, checked at construction. */
export const claudeCodeRuntimeSettingsSchema = z.strictObject({
  /** The Claude Code CLI: a name looked up on the runtime's PATH, or an absolute path. */
  binary: binarySetting('claude'),
  /**
   * Instead of `binary`: the folder of an installed `@anthropic-ai/claude-code` package (absolute),
   * whose `claude` entry (its package.json `bin`) is run with the `node` on the runtime's PATH.
   */
  package: z.string().refine(isAbsolute, 'must be the absolute path of an installed @anthropic-ai/claude-code folder').optional(),
  /** `--model` for specs that name none (`runtime.model` wins). */
  defaultModel: z.string().min(1, 'must not be empty').optional(),
  /** `--max-turns` for specs that set none (`runtime.maxTurns` wins). */
  defaultMaxTurns: z.int().min(1).max(10_000).optional(),
  /**
   * The name of the environment variable (an item secret) holding the Anthropic API key, when it is
   * not ANTHROPIC_API_KEY itself: the CLI gets its value as ANTHROPIC_API_KEY, and not under this name.
   */
  apiKeyEnv: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
    .optional(),
  /**
   * What someone whose CLI is missing is told to do, in the host's own terms (a server names its
   * config option); by default: install it on the runtime's PATH (worker.path) or set `binary`.
   */
  setupHint: z.string().min(1).optional(),
  /**
   * Passed as `--permission-mode`. In print mode nobody can grant a permission, so a tool that
   * needs one is refused: `acceptEdits` lets the agent change files; `bypassPermissions` lets it
   * run shell commands too, and belongs only inside a sandbox (a `launch` hook).
   */
  permissionMode: z.enum(['default', 'acceptEdits', 'bypassPermissions', 'plan']).default('acceptEdits'),
  // launch (the sandbox around each process) and killGraceMs, as the command runtime's.
  ...processLaunchSettings,
});

export type ClaudeCodeRuntimeSettings = z.input<typeof claudeCodeRuntimeSettingsSchema>;

/**
 * Runs an `agent` spec whose adapter is `claude-code` with the Claude Code CLI, non-interactively,
 * in the workspace: `claude -p --output-format stream-json --verbose --permission-mode <mode>
 * [--model M] [--max-turns N] -- <prompt>` (the prompt after `--`, so one starting with `-` is not
 * read as a flag; M and N from the spec, else `defaultModel`/`defaultMaxTurns`). The CLI is `binary`,
 * or `node <entry>` of an installed `package`. It gets exactly the invocation's environment, where the
 * API key arrives as an item secret (ANTHROPIC_API_KEY, or the one `apiKeyEnv` names, renamed). The CLI's stream-json events go to `sinks.stdout` as they come,
 * its stderr to `sinks.stderr`, and its exit code is the result.
 *
 * The process is spawned like a command runtime's (CommandRuntime): through the `launch` hook, in a
 * process group of its own that is killed on abort and on exit. When the CLI is not found on the
 * runtime's PATH (or at `binary`), the run rejects with CAIRN_RUNTIME_FAILED saying how to install it.
 */
export class ClaudeCodeRuntime implements RuntimeAdapterV1 {
  readonly specificationVersion = 'v1';
  readonly kind = 'claude-code';
  readonly #settings: z.output<typeof claudeCodeRuntimeSettingsSchema>;
  readonly #commands: CommandRuntime;

  constructor(settings: ClaudeCodeRuntimeSettings = {}) {
    this.#settings = parseSettings(claudeCodeRuntimeSettingsSchema, settings, 'worker.claudeCodeRuntime');
    if (settings.binary !== undefined && settings.package !== undefined) {
      throw new CairnError('CAIRN_CONFIG_INVALID', '[cairn] [worker] invalid settings: "worker.claudeCodeRuntime.package" set binary or package, not both.', {
        path: 'worker.claudeCodeRuntime.package',
      });
    }
    const { launch, killGraceMs } = this.#settings;
    this.#commands = new CommandRuntime({ killGraceMs, ...(launch ? { launch } : {}) });
  }

  async run(invocation: RuntimeInvocation): Promise<RuntimeResult> {
    const { spec, env, signal } = invocation;
    requireAgentSpec(claudeCode, spec);
    if (signal.aborted) return { exitCode: null, aborted: true };
    // Looked up here, before anything starts, so that a missing CLI is a clear error rather than
    // an exit code 127 from inside a sandbox wrapper.
    const command = this.#settings.package === undefined ? await this.#binaryCommand(env['PATH']) : await this.#packageCommand(env['PATH']);
    const program = command[0]!;
    const model = spec.model ?? this.#settings.defaultModel;
    const maxTurns = spec.maxTurns ?? this.#settings.defaultMaxTurns;
    const argv = [
      ...command,
      '-p',
      '--output-format',
      'stream-json',
      // stream-json in print mode requires --verbose.
      '--verbose',
      '--permission-mode',
      this.#settings.permissionMode,
      ...(model === undefined ? [] : ['--model', model]),
      ...(maxTurns === undefined ? [] : ['--max-turns', String(maxTurns)]),
      '--',
      spec.prompt,
    ];
    try {
      return await this.#commands.run({ ...invocation, env: this.#environment(env), spec: { kind: 'command', argv } });
    } catch (error) {
      throw cliStartFailure(claudeCode, error, program, (cause) => this.#notInstalled(env['PATH'], cause));
    }
  }

  async #binaryCommand(searchPath: string | undefined): Promise<string[]> {
    const program = await findProgram(this.#settings.binary, searchPath);
    if (program === undefined) throw this.#notInstalled(searchPath);
    return [program];
  }

  // `node <package>/<bin entry>`: the package's own launcher script, as `npm install -g` would link it.
  async #packageCommand(searchPath: string | undefined): Promise<string[]> {
    const folder = this.#settings.package!;
    const where = 'worker.claudeCodeRuntime.package';
    let entry: string | undefined;
    try {
      const manifest = JSON.parse(await readFile(join(folder, 'package.json'), 'utf8')) as { bin?: unknown };
      const bin = manifest.bin;
      entry =
        typeof bin === 'string'
          ? bin
          : typeof bin === 'object' && bin !== null && typeof (bin as Record<string, unknown>)['claude'] === 'string'
            ? (bin as Record<string, string>)['claude']
            : undefined;
    } catch (error) {
      throw new CairnError(
        'CAIRN_RUNTIME_FAILED',
        `The claude-code runtime cannot read ${join(folder, 'package.json')}: ${(error as Error).message}. Install the CLI there (npm install --prefix <folder> @anthropic-ai/claude-code) and point ${where} at node_modules/@anthropic-ai/claude-code.`,
        { path: where, cause: error },
      );
    }
    if (entry === undefined)
      throw new CairnError(
        'CAIRN_RUNTIME_FAILED',
        `The package at ${folder} has no "claude" program in its package.json bin: it is not @anthropic-ai/claude-code. Point ${where} at that package's folder.`,
        { path: where },
      );
    const script = join(folder, entry);
    const node = await findProgram('node', searchPath);
    if (node === undefined)
      throw new CairnError(
        'CAIRN_RUNTIME_FAILED',
        `The claude-code runtime runs ${script} with node, and there is no executable "node" on the runtime's PATH (${JSON.stringify(searchPath ?? '')}). Install Node.js where the runtime runs (under /usr for a sandbox), or set a command instead of a package.`,
        { path: where },
      );
    return [node, script];
  }

  // The API key under the name the CLI reads, and under no other; an unattended run that calls
  // nothing but its model (no update check, telemetry or error reports: they would leave a sandbox
  // through the gateway's path to nowhere, or hang); its own files kept out of the workspace.
  #environment(env: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
    const quiet: Record<string, string> = { ...unattended, CLAUDE_CONFIG_DIR: `${env['TMPDIR'] ?? '/tmp'}/.claude`, ...env };
    const { apiKeyEnv } = this.#settings;
    if (apiKeyEnv === undefined || apiKeyEnv === 'ANTHROPIC_API_KEY' || env[apiKeyEnv] === undefined) return quiet;
    const { [apiKeyEnv]: key, ...rest } = quiet;
    return { ...rest, ANTHROPIC_API_KEY: key! };
  }

  #notInstalled(searchPath: string | undefined, cause?: unknown): CairnError {
    return cliNotInstalled(claudeCode, this.#settings.binary, searchPath, this.#settings.setupHint, cause);
  }
}

/** Creates a runtime adapter for `claude-code` agent specs (see `ClaudeCodeRuntime`). */
export function createClaudeCodeRuntime(settings: ClaudeCodeRuntimeSettings = {}): ClaudeCodeRuntime {
  return new ClaudeCodeRuntime(settings);
}
