import { existsSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * Where the real agent CLIs are, and how to run them headless against a model base URL with no
 * other network traffic. Both are devDependencies of @cairn/server, pinned; each ships its native
 * binary in a per-platform optional dependency, which is run directly: Claude Code's postinstall
 * (which would copy the binary over its `bin/claude.exe` placeholder) is not needed, and Codex's
 * `bin/codex.js` only finds and execs the same binary.
 */

const require = createRequire(import.meta.url);

function packageRoot(name: string, from: string): string {
  return dirname(realpathSync(createRequire(join(from, 'package.json')).resolve(`${name}/package.json`)));
}

function missing(what: string, cause?: unknown): Error {
  return new Error(`[cairn] ${what} is not installed; run \`bash scripts/setup.sh\` (pnpm install --frozen-lockfile) to install the agent CLIs`, { cause });
}

function linuxLibc(): 'glibc' | 'musl' {
  const report = process.report.getReport() as { header?: { glibcVersionRuntime?: string } };
  return report.header?.glibcVersionRuntime === undefined ? 'musl' : 'glibc';
}

/** The argv prefix that runs Claude Code (its native binary), e.g. `[...claudeCodeCommand(), '-p', ...]`. */
export function claudeCodeCommand(): string[] {
  const platformKey = process.platform === 'linux' ? `linux-${process.arch}${linuxLibc() === 'musl' ? '-musl' : ''}` : `${process.platform}-${process.arch}`;
  const platformPackage = `@anthropic-ai/claude-code-${platformKey}`;
  try {
    const wrapper = packageRoot('@anthropic-ai/claude-code', dirname(require.resolve('../../../package.json')));
    const binary = join(packageRoot(platformPackage, wrapper), process.platform === 'win32' ? 'claude.exe' : 'claude');
    if (!existsSync(binary)) throw new Error(`${binary} does not exist`);
    return [binary];
  } catch (error) {
    throw missing(`Claude Code (${platformPackage})`, error);
  }
}

const codexTargets: Record<string, string> = {
  'linux-x64': 'x86_64-unknown-linux-musl',
  'linux-arm64': 'aarch64-unknown-linux-musl',
  'darwin-x64': 'x86_64-apple-darwin',
  'darwin-arm64': 'aarch64-apple-darwin',
};

/** The argv prefix that runs Codex (its native binary), e.g. `[...codexCommand(), 'exec', ...]`. */
export function codexCommand(): string[] {
  const platformKey = `${process.platform}-${process.arch}`;
  const target = codexTargets[platformKey];
  if (target === undefined) throw new Error(`[cairn] Codex ships no binary for ${platformKey}`);
  const platformPackage = `@openai/codex-${platformKey}`;
  try {
    const wrapper = packageRoot('@openai/codex', dirname(require.resolve('../../../package.json')));
    const binary = join(packageRoot(platformPackage, wrapper), 'vendor', target, 'bin', 'codex');
    if (!existsSync(binary)) throw new Error(`${binary} does not exist`);
    return [binary];
  } catch (error) {
    throw missing(`Codex (${platformPackage})`, error);
  }
}

/** A command line and the whole environment to run it with (nothing is inherited). */
export interface AgentInvocation {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

export interface HeadlessOptions {
  /** Claude Code: the Anthropic base URL without `/v1`; Codex: the OpenAI base URL with `/v1`. */
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly model: string;
  readonly prompt: string;
  /** A writable folder for the CLI's own state (HOME; Codex's CODEX_HOME is `<home>/.codex`, which must exist). */
  readonly home: string;
  /** PATH inside the run; the tools the agent's shell may call. */
  readonly path?: string;
}

const defaultPath = '/usr/local/bin:/usr/bin:/bin';

/**
 * Claude Code in print mode, streaming JSON events on stdout, file edits accepted without asking,
 * and with no traffic but the model calls: `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC` alone stops
 * both the `HEAD /api/hello` check and the calls to api.anthropic.com; the other three say the
 * same for each part, so a future release that splits them still stays quiet.
 */
export function claudeCodeHeadless(options: HeadlessOptions): AgentInvocation {
  return {
    argv: [
      ...claudeCodeCommand(),
      '-p',
      '--output-format',
      'stream-json',
      '--verbose',
      '--permission-mode',
      'acceptEdits',
      '--model',
      options.model,
      '--',
      options.prompt,
    ],
    env: {
      PATH: options.path ?? defaultPath,
      HOME: options.home,
      ANTHROPIC_BASE_URL: options.baseUrl,
      ANTHROPIC_API_KEY: options.apiKey,
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_TELEMETRY: '1',
      DISABLE_ERROR_REPORTING: '1',
      DISABLE_AUTOUPDATER: '1',
    },
  };
}

/**
 * `codex exec` against a custom provider (the Responses API is the only wire API this version
 * accepts), without Codex's own sandbox (the run is sandboxed from outside), and with analytics
 * and the plugin sync (a `git clone` from github.com, calls to api.github.com and chatgpt.com)
 * turned off. The model should be one of Codex's catalogue (`codex debug models`): that decides
 * the tools it offers (`apply_patch` as a freeform tool, `exec_command`); an unknown model gets
 * fallback metadata, a warning event and no `apply_patch`.
 */
export function codexHeadless(options: HeadlessOptions): AgentInvocation {
  return {
    argv: [
      ...codexCommand(),
      'exec',
      '--json',
      '--skip-git-repo-check',
      '--dangerously-bypass-approvals-and-sandbox',
      '--disable',
      'plugins',
      '-c',
      'analytics.enabled=false',
      '-c',
      'check_for_update_on_startup=false',
      '-c',
      'model_provider="cairn"',
      '-c',
      'model_providers.cairn.name="cairn"',
      '-c',
      `model_providers.cairn.base_url=${JSON.stringify(options.baseUrl)}`,
      '-c',
      'model_providers.cairn.env_key="CAIRN_MODEL_API_KEY"',
      '-c',
      'model_providers.cairn.wire_api="responses"',
      '-m',
      options.model,
      '--',
      options.prompt,
    ],
    env: {
      PATH: options.path ?? defaultPath,
      HOME: options.home,
      CODEX_HOME: join(options.home, '.codex'),
      CAIRN_MODEL_API_KEY: options.apiKey,
    },
  };
}
