import { isAbsolute } from 'node:path';
import type { RuntimeSpec } from '@cairn/core';
import { CairnError, isCairnError } from '@cairn/protocol';
import { z } from 'zod';

/**
 * What the runtimes that run an agent's own CLI (Claude Code, Codex) share: the `binary` setting,
 * the refusal of a spec of another adapter, and the errors of a CLI that is missing or does not
 * start, worded alike whichever CLI it is.
 */
export interface AgentCli {
  /** The adapter name (`claude-code`, `codex`): the runtime's `kind`. */
  readonly adapter: string;
  /** What people call it: `Claude Code CLI`. */
  readonly title: string;
  /** How to install it: `npm install -g @anthropic-ai/claude-code`. */
  readonly install: string;
  /** Where its settings are named in errors: `worker.claudeCodeRuntime`. */
  readonly settingsPath: string;
}

/** The `binary` setting of an agent CLI runtime: a name looked up on the runtime's PATH, or an absolute path. */
export function binarySetting(name: string) {
  return z
    .string()
    .min(1, 'must not be empty')
    .refine((value) => !value.includes('/') || isAbsolute(value), 'must be a program name (looked up on PATH) or an absolute path')
    .default(name);
}

/** CAIRN_RUNTIME_FAILED unless `spec` is an agent spec of this CLI's adapter. */
export function requireAgentSpec(cli: AgentCli, spec: RuntimeSpec): asserts spec is Extract<RuntimeSpec, { kind: 'agent' }> {
  if (spec.kind === 'agent' && spec.adapter === cli.adapter) return;
  const what = spec.kind === 'agent' ? `an agent spec for adapter ${JSON.stringify(spec.adapter)}` : `a ${spec.kind} spec`;
  throw new CairnError(
    'CAIRN_RUNTIME_FAILED',
    `The ${cli.adapter} runtime runs only agent specs with adapter "${cli.adapter}", not ${what}; configure the right runtime for it on the worker.`,
    { path: spec.kind === 'agent' ? 'runtime.adapter' : 'runtime.kind' },
  );
}

/** The CLI is not where `binary` says: what to do, in the host's terms (`setupHint`) or ours. */
export function cliNotInstalled(cli: AgentCli, binary: string, searchPath: string | undefined, setupHint: string | undefined, cause?: unknown): CairnError {
  const where = binary.includes('/')
    ? `${JSON.stringify(binary)} is not an executable file`
    : `no executable ${JSON.stringify(binary)} on the runtime's PATH (${JSON.stringify(searchPath ?? '')})`;
  return new CairnError(
    'CAIRN_RUNTIME_FAILED',
    `The ${cli.adapter} runtime could not start the ${cli.title}: ${where}. ${setupHint ?? `Install it where the runtime runs (${cli.install}) with its directory on the PATH runtimes get (worker.path), or set ${cli.settingsPath}.binary to its absolute path.`}`,
    { path: `${cli.settingsPath}.binary`, ...(cause === undefined ? {} : { cause }) },
  );
}

/**
 * What a failure of the command runtime to start the CLI means: one gone since it was looked up is
 * still "not installed" (`notInstalled`), a prompt too long for an argument names runtime.prompt,
 * anything else says why. Errors of other codes are passed on.
 */
export function cliStartFailure(cli: AgentCli, error: unknown, program: string, notInstalled: (cause: unknown) => CairnError): unknown {
  if (!isCairnError(error, 'CAIRN_RUNTIME_FAILED')) return error;
  const code = (error.cause as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT' || code === 'EACCES') return notInstalled(error.cause);
  const reason =
    code === 'E2BIG'
      ? 'the prompt is too long to pass as an argument (Linux allows 128 KiB per argument); shorten runtime.prompt'
      : ((error.cause as Error | undefined)?.message ?? error.message);
  return new CairnError('CAIRN_RUNTIME_FAILED', `The ${cli.adapter} runtime could not start ${JSON.stringify(program)}: ${reason}.`, {
    path: code === 'E2BIG' ? 'runtime.prompt' : `${cli.settingsPath}.binary`,
    cause: error.cause ?? error,
  });
}
