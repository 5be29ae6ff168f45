import { spawnSync } from 'node:child_process';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import type { RuntimesConfig } from '../config/runtimes-config-schema.ts';
import type { GatewaySettings } from '../capabilities/gateway/gateway-settings.ts';
import type { Diagnosis } from './diagnose-server.ts';

/** The PATH runtimes get (the worker's default), where a `command` name is looked up. */
const runtimePath = '/usr/local/bin:/usr/bin:/bin';
const notCalled = 'did not call the model';
const installHint = 'npm install -g @anthropic-ai/claude-code (or set runtimes.claude-code.command to its absolute path)';

/**
 * One finding per configured agent runtime, from what can be checked without spending anything:
 * the base URL (already parsed), that the API key's secret is set, that the `claude` and `codex`
 * programs are there and answer `--version`, that codex has a gateway to go through. No model is asked anything, and each finding says so.
 */
export function diagnoseRuntimes(
  runtimes: RuntimesConfig,
  secretNames: readonly string[],
  sandbox: 'bubblewrap' | 'none',
  gateway?: GatewaySettings,
): Diagnosis[] {
  const findings: Diagnosis[] = [];
  // Through the model gateway (ADR 0033) the key is the provider's, in the server, and the sandbox needs no network.
  const anthropic = gateway?.enabled === true ? gateway.providers.anthropic : undefined;
  const secretProblem = (name: string | undefined) => (name === undefined || secretNames.includes(name) ? undefined : name);
  const secretDetail = (name: string | undefined) =>
    name === undefined ? 'no API key (apiKeySecret unset)' : secretNames.includes(name) ? `secret ${name} is set` : `secret ${name} is not set`;

  const openAi = runtimes['openai-compatible'];
  if (openAi) {
    const missing = secretProblem(openAi.apiKeySecret);
    findings.push({
      check: 'runtime openai-compatible',
      ok: missing === undefined,
      detail: `${openAi.baseUrl} (model ${openAi.model ?? 'from each item'}); ${secretDetail(openAi.apiKeySecret)}; ${notCalled} (requests go from the worker on this host)`,
      ...(missing === undefined ? {} : { fix: `cairn secret set ${missing} (the endpoint's API key; items name it in secrets)` }),
    });
  }

  const claude = runtimes['claude-code'];
  if (claude) {
    const program = claude.package === undefined ? { argv: [claude.command ?? 'claude'], problem: undefined } : packageProgram(claude.package);
    const checked = checkProgram(program, claude.package ?? claude.command, sandbox, 'claude-code');
    const keySecret = anthropic === undefined ? claude.apiKeySecret : anthropic.apiKeySecret;
    const missing = secretProblem(keySecret);
    const reach =
      anthropic === undefined
        ? `${secretDetail(claude.apiKeySecret)}; ${notCalled} (claude runs in the sandbox: items need network: true to reach the API)`
        : `through the model gateway to ${anthropic.baseUrl}, ${secretDetail(anthropic.apiKeySecret)}; ${notCalled} (items need no network)`;
    findings.push({
      check: 'runtime claude-code',
      ok: checked.problem === undefined && missing === undefined,
      detail: `${checked.problem ?? checked.version}; ${reach}`,
      ...(checked.closed !== undefined
        ? { fix: `chmod o+rx ${checked.closed} (or install the CLI under /usr)` }
        : checked.problem !== undefined
          ? { fix: installHint }
          : missing !== undefined
            ? {
                fix: `cairn secret set ${missing} (the Anthropic API key${anthropic === undefined ? '; items name it in secrets' : ', which the gateway uses'})`,
              }
            : {}),
    });
  }

  const codex = runtimes.codex;
  if (codex) {
    // Codex runs only through the gateway (it holds the OpenAI key): without it no item can run.
    const openai = gateway?.enabled === true ? gateway.providers.openai : undefined;
    const checked = checkProgram({ argv: [codex.command ?? 'codex'], problem: undefined }, codex.command, sandbox, 'codex');
    const missing = secretProblem(openai?.apiKeySecret);
    const reach =
      openai === undefined
        ? 'no model gateway to the OpenAI API (gateway.enabled and gateway.providers.openai), which codex items run through'
        : `through the model gateway to ${openai.baseUrl}, ${secretDetail(openai.apiKeySecret)}; ${notCalled} (items need no network)`;
    findings.push({
      check: 'runtime codex',
      ok: checked.problem === undefined && openai !== undefined && missing === undefined,
      detail: `${checked.problem ?? checked.version}; ${reach}`,
      ...(checked.closed !== undefined
        ? { fix: `chmod o+rx ${checked.closed} (or install the CLI under /usr)` }
        : checked.problem !== undefined
          ? { fix: 'npm install -g @openai/codex (or set runtimes.codex.command to the absolute path of its native binary)' }
          : openai === undefined
            ? { fix: 'set gateway.enabled: true and gateway.providers.openai { baseUrl, apiKeySecret } in cairn.config.yaml' }
            : missing !== undefined
              ? { fix: `cairn secret set ${missing} (the OpenAI API key, which the gateway uses)` }
              : {}),
    });
  }
  return findings;
}

/**
 * Whether an agent CLI's program runs (`--version`, on the worker's PATH) and, under bubblewrap, can
 * be bound into sandboxes (a CLI outside /usr must be passable by the sandbox uids): its first
 * version line, or the problem, and the folder to open when that is the problem.
 */
function checkProgram(
  program: { readonly argv: readonly string[]; readonly problem: string | undefined },
  path: string | undefined,
  sandbox: 'bubblewrap' | 'none',
  adapter: string,
): { readonly version: string; readonly problem: string | undefined; readonly closed: string | undefined } {
  const what = program.argv.join(' ');
  if (program.problem !== undefined) return { version: what, problem: program.problem, closed: undefined };
  const closed = sandbox === 'bubblewrap' ? closedToOthers(path) : undefined;
  if (closed !== undefined)
    return {
      version: what,
      problem: `${closed} cannot be read or passed through by the sandbox uids, so ${what} cannot be bound into ${adapter} sandboxes`,
      closed,
    };
  const run = spawnSync(program.argv[0]!, [...program.argv.slice(1), '--version'], { encoding: 'utf8', timeout: 15_000, env: { PATH: runtimePath } });
  if (run.error !== undefined)
    return {
      version: what,
      problem: `${what} cannot be run (${(run.error as NodeJS.ErrnoException).code ?? run.error.message}; looked up on ${runtimePath})`,
      closed,
    };
  if (run.status !== 0)
    return { version: what, problem: `${what} --version exited with ${run.status ?? run.signal}: ${run.stderr.trim().slice(0, 200)}`, closed };
  return { version: `${what}: ${run.stdout.trim().split('\n')[0]}`, problem: undefined, closed };
}

/**
 * The first folder a sandbox uid cannot get through on the way to an absolute `path` outside /usr
 * (its own folder must also be readable, its parents passable), if any.
 */
function closedToOthers(path: string | undefined): string | undefined {
  if (path === undefined || !isAbsolute(path)) return undefined;
  let target: string;
  try {
    target = realpathSync(path);
  } catch {
    return undefined; // Not there: the --version check says so.
  }
  // What the executor binds: a package folder, or the folders of the command and of what it links to.
  const folders = statSync(target).isDirectory() ? [path, target] : [dirname(path), dirname(target)];
  for (const start of new Set(folders)) {
    if (start === '/usr' || start.startsWith('/usr/')) continue;
    if ((statSync(start).mode & 0o005) !== 0o005) return start;
    for (let folder = dirname(start); folder !== dirname(folder); folder = dirname(folder)) {
      if ((statSync(folder).mode & 0o001) === 0) return folder;
    }
  }
  return undefined;
}

/** `node <entry>` of an installed @anthropic-ai/claude-code folder, or why there is none. */
function packageProgram(folder: string): { argv: string[]; problem: string | undefined } {
  try {
    const bin = (JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as { bin?: unknown }).bin;
    const entry = typeof bin === 'string' ? bin : (bin as Record<string, unknown> | undefined)?.['claude'];
    if (typeof entry !== 'string') return { argv: [folder], problem: `${folder} has no "claude" program in its package.json bin` };
    return { argv: ['node', join(folder, entry)], problem: undefined };
  } catch (error) {
    return { argv: [folder], problem: `cannot read ${join(folder, 'package.json')} (${(error as Error).message})` };
  }
}
