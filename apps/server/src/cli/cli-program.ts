import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CairnHttpClient } from '@cairn/client/http';
import { CairnError, isCairnError } from '@cairn/protocol/errors';
import { Command, CommanderError } from 'commander';
import { configFileNames } from '../config/config-file-names.ts';
import { VERSION } from '../version.ts';
import { clientConfigPath, findContext, readClientConfig } from './client-contexts.ts';
import { loadServerConfigLazily } from './lazy-server-config.ts';

/**
 * The `cairn` program and what every command shares: `--json`, `--config`, printing, and a client
 * of the running server. Commands live in files of their own (`<topic>-commands.ts`), each an
 * `add<Topic>Commands()` that `cli-commands.ts` calls.
 */
export const program = new Command('cairn')
  .description('Run AI-agent work unattended, and prove what ran.')
  .version(VERSION, '-V, --version', 'print the version')
  .option('--json', 'print one JSON document instead of text')
  .option('--config <file>', 'the server config (default: cairn.config.* here)')
  .option('--context <name>', 'the client context to talk to (default: CAIRN_CONTEXT, else the current one: `cairn context list`)')
  // Usage errors reach runCommandLine as CommanderErrors, so their exit code is the documented 2.
  .exitOverride();

/**
 * Exit codes: 0 done, 1 a check failed or a run did not succeed, 2 bad input (an invalid spec,
 * config, request or command line), 3 anything else, 4 a bundle that no check faulted but whose signer is not trusted (`verify`), 5 the server could not be reached.
 */
export const exitCodes = { done: 0, failed: 1, badInput: 2, other: 3, unreachable: 5 } as const;

/** Whether the command prints one JSON document (for scripts) instead of text. */
export const json = (): boolean => program.opts<{ json?: boolean }>().json === true;

export const say = (text: string): void => void process.stdout.write(`${text}\n`);

/** Prints a list: one JSON array with --json, otherwise one line per item. */
export function sayList<Item>(items: readonly Item[], line: (item: Item) => string): void {
  if (json()) say(JSON.stringify(items));
  else for (const item of items) say(line(item));
}

/**
 * A client of the server a command talks to, the first of: `--server <url>`; `CAIRN_SERVER`; the
 * context named by `--context` or `CAIRN_CONTEXT`; the server of the config in this folder (or
 * `--config`); the current context of the client config. The token is `CAIRN_TOKEN`, else the
 * chosen context's (in a server's folder, the current context's when it names that same server).
 */
export async function clientOf(url: string | undefined): Promise<CairnHttpClient> {
  const target = await serverTarget(url);
  const token = process.env['CAIRN_TOKEN'] || target.token;
  tokenSource = process.env['CAIRN_TOKEN'] ? 'CAIRN_TOKEN' : target.token ? `the context "${target.context ?? ''}"` : undefined;
  signedIn =
    !process.env['CAIRN_TOKEN'] && target.token && target.issuer !== undefined
      ? { context: target.context ?? '', issuer: target.issuer, server: target.baseUrl }
      : undefined;
  // The client loads with the first command that talks to a server, not with `cairn --help`; and
  // without zod: its settings are checked by the schema only when they are not plainly right.
  const { openCairnClient } = await import('@cairn/client/http');
  return openCairnClient({ baseUrl: target.baseUrl, ...(token ? { token } : {}) });
}

/** Where the token the last client sends came from, for a refusal to name (undefined: it sends none). */
let tokenSource: string | undefined;
/** The sign-in the last client's token came from (`cairn login`), if it came from one. */
let signedIn: { readonly context: string; readonly issuer: string; readonly server: string } | undefined;

/**
 * What to do about a server's refusal of the token (401) or of what it allows (403), in the
 * command line's terms: where the token goes and how to make one. The server's message names the
 * scope the request needs; a script that polls a command can tell these (exit 3) from a server
 * not up yet (exit 5), and must stop on them: waiting does not change a token.
 */
function tokenAdvice(code: 'CAIRN_UNAUTHENTICATED' | 'CAIRN_FORBIDDEN'): string {
  // A person signed in through the identity provider holds what their roles there are granted: a
  // token of their own is not the way (and only an admin could make one).
  if (signedIn !== undefined) {
    const login = `\`cairn login --server ${signedIn.server} --name ${signedIn.context}\``;
    if (code === 'CAIRN_FORBIDDEN')
      return `you are signed in through ${signedIn.issuer} (the context "${signedIn.context}"): you hold the scopes of the roles the server grants you there, and none has the scope named above; ask an admin of the server for a role with it (server.oidc.grants), then sign in again with ${login}`;
    return `the sign-in of the context "${signedIn.context}" (through ${signedIn.issuer}) is not accepted any more (expired, or signed out at the provider): sign in again with ${login}`;
  }
  const make = "make one with the scope named above: `cairn token create --name NAME --scope SCOPE...` in the server's folder";
  if (code === 'CAIRN_FORBIDDEN') return `the token from ${tokenSource ?? 'CAIRN_TOKEN'} lacks that scope: ${make}, and set CAIRN_TOKEN to it`;
  if (tokenSource === undefined)
    return `cairn sent no token: set CAIRN_TOKEN (${make}), or give the context one (\`cairn context add NAME --server URL --token TOKEN\`)`;
  return `the token from ${tokenSource} is not one this server knows: ${make}, and set CAIRN_TOKEN to it`;
}

/** The address of the server a command talks to, chosen as `clientOf` chooses it. */
export async function serverAddressOf(url: string | undefined): Promise<string> {
  return (await serverTarget(url)).baseUrl;
}

/**
 * Whether a command given `url` talks to the server of the config at hand (`--config`, or a
 * cairn.config.* in this folder), as `clientOf` would choose it: nothing else names a server. Such a
 * command may work on that server's data directly while it does not run (`cairn secret set`).
 */
export async function targetsServerConfig(url: string | undefined): Promise<boolean> {
  return (await serverTarget(url)).fromServerConfig === true;
}

/** Whether a server config is at hand (`--config`, or a cairn.config.* in this folder): commands like `cairn token` then work on it directly. */
export function hasServerConfig(): boolean {
  return configOption().file !== undefined || configFileNames.some((name) => existsSync(join(process.cwd(), name)));
}

async function serverTarget(url: string | undefined): Promise<{ baseUrl: string; token?: string; context?: string; issuer?: string; fromServerConfig?: true }> {
  if (url !== undefined) return { baseUrl: url };
  if (process.env['CAIRN_SERVER']) return { baseUrl: process.env['CAIRN_SERVER'] };
  const named = program.opts<{ context?: string }>().context ?? (process.env['CAIRN_CONTEXT'] || undefined);
  const clientConfig = await readClientConfig();
  if (named !== undefined) return contextTarget(findContext(clientConfig, named)!);
  const config = configOption();
  if (config.file !== undefined || configFileNames.some((name) => existsSync(join(process.cwd(), name)))) {
    const { host, port } = (await loadServerConfigLazily(config)).config.server;
    const baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    // A person signed in to this very server (`cairn login`) keeps their sign-in in its folder too.
    const current = findContext(clientConfig, undefined);
    const sameServer = current !== undefined && originOf(current.context.server) === originOf(baseUrl);
    return { ...(sameServer ? contextTarget(current) : {}), baseUrl, fromServerConfig: true };
  }
  const current = findContext(clientConfig, undefined);
  if (current) return contextTarget(current);
  throw new CairnError(
    'CAIRN_CONFIG_INVALID',
    `Which server? Pass --server <url>, set CAIRN_SERVER, add a context (\`cairn context add NAME --server <url>\`, kept in ${clientConfigPath()}), or run this in the folder of a server's cairn.config (\`cairn init\`).`,
    { path: '--server' },
  );
}

function originOf(url: string): string | undefined {
  return URL.canParse(url) ? new URL(url).origin : undefined;
}

function contextTarget({ name, context }: { name: string; context: { server: string; token?: string | undefined; login?: { issuer: string } | undefined } }): {
  baseUrl: string;
  token?: string;
  context: string;
  issuer?: string;
} {
  return {
    baseUrl: context.server,
    context: name,
    ...(context.token ? { token: context.token } : {}),
    // The token came from a sign-in through this identity provider (`cairn login`).
    ...(context.login ? { issuer: context.login.issuer } : {}),
  };
}

/**
 * The bytes of a file named on the command line; one that cannot be read is bad input
 * (CAIRN_PAYLOAD_INVALID, exit 2) naming the file and why, not an unexpected error.
 */
export function readInputFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'there is no such file' : (error as Error).message;
    throw new CairnError('CAIRN_PAYLOAD_INVALID', `Cannot read ${what} ${file}: ${reason}. Check the path.`, { path: file });
  }
}

/**
 * `<noun> rm <id>` under `parent`: removes one thing through the client of a running server and
 * says so (`{ removed: id }` with --json).
 */
export function addRemoveCommand(
  parent: Command,
  noun: string,
  argument: readonly [name: string, description: string],
  description: string,
  remove: (cairn: CairnHttpClient, id: string) => Promise<void>,
): void {
  parent
    .command('rm')
    .description(description)
    .argument(...argument)
    .option('--server <url>', 'the server')
    .action(async (id: string, options: { server?: string }) => {
      await remove(await clientOf(options.server), id);
      say(json() ? JSON.stringify({ removed: id }) : `${noun} ${id} removed`);
    });
}

/** The `--config` file, when one was named. */
export function configOption(): { file?: string } {
  const file = program.opts<{ config?: string }>().config;
  return file === undefined ? {} : { file };
}

/**
 * Runs the command the arguments name, with the exit codes of `exitCodes` (a command sets 1
 * itself); errors go to stderr, as JSON with --json. `cairn` alone prints the help and exits 0.
 */
export async function runCommandLine(argv: readonly string[] = process.argv): Promise<void> {
  // `cairn runs | head`: a reader that stops early is not an error. Stop quietly, keeping the
  // exit code the command has set so far.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit();
    throw error;
  });
  if (argv.length <= 2) {
    program.outputHelp();
    return;
  }
  try {
    await program.parseAsync(argv);
  } catch (error) {
    process.exitCode = reportError(error);
  }
}

/** Prints an error the way the command line does, and returns its exit code. */
function reportError(error: unknown): number {
  if (error instanceof CommanderError) {
    // Commander has printed its message (or the help, or the version) already. A command group
    // named alone (`cairn token`) prints its help, as `cairn` alone does: not an error.
    return error.exitCode === 0 || error.code === 'commander.help' ? exitCodes.done : exitCodes.badInput;
  }
  if (isCairnError(error)) {
    // A refusal of `cairn login` by the identity provider says what to do itself: no token was sent.
    const refused =
      (error.code === 'CAIRN_UNAUTHENTICATED' || error.code === 'CAIRN_FORBIDDEN') && error.details['signIn'] === undefined
        ? tokenAdvice(error.code)
        : undefined;
    if (json()) process.stderr.write(`${JSON.stringify(refused === undefined ? error : { ...error.toJSON(), advice: refused })}\n`);
    else {
      process.stderr.write(`${error.code}: ${error.message}\n`);
      for (const issue of error.issues) process.stderr.write(`  ${issue.path}  ${issue.message}\n`);
      if (refused !== undefined) process.stderr.write(`  ${refused}\n`);
    }
    if (error.code === 'CAIRN_SERVER_UNREACHABLE') return exitCodes.unreachable;
    const input = error.code.startsWith('CAIRN_RUN_SPEC') || error.code === 'CAIRN_CONFIG_INVALID' || error.code === 'CAIRN_PAYLOAD_INVALID';
    return input ? exitCodes.badInput : exitCodes.other;
  }
  process.stderr.write(`unexpected error: ${(error as Error).stack ?? String(error)}\n`);
  return exitCodes.other;
}
