import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createCairnClient, type CairnClient } from '@cairn/client';
import { CairnError, isCairnError } from '@cairn/protocol';
import { Command } from 'commander';
import { loadServerConfig } from '../config/load-server-config.ts';

/**
 * The `cairn` program and what every command shares: `--json`, `--config`, printing, and a client
 * of the running server. Commands live in files of their own (`<topic>-commands.ts`), each an
 * `add<Topic>Commands()` that `cli.ts` calls.
 */
export const program = new Command('cairn').description('Run AI-agent work unattended, and prove what ran.').option('--json', 'print one JSON document instead of text').option('--config <file>', 'the server config (default: cairn.config.* here)');

/** Whether the command prints one JSON document (for scripts) instead of text. */
export const json = (): boolean => program.opts<{ json?: boolean }>().json === true;

export const say = (text: string): void => void process.stdout.write(`${text}\n`);

/** Prints a list: one JSON array with --json, otherwise one line per item. */
export function sayList<Item>(items: readonly Item[], line: (item: Item) => string): void {
  if (json()) say(JSON.stringify(items));
  else for (const item of items) say(line(item));
}

/** A client of `url`, or of the server this directory's config describes, with CAIRN_TOKEN. */
export function clientOf(url: string | undefined): CairnClient {
  let baseUrl = url;
  if (baseUrl === undefined) {
    const { host, port } = loadServerConfig(configOption()).config.server;
    baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }
  const token = process.env['CAIRN_TOKEN'];
  return createCairnClient({ baseUrl, ...(token ? { token } : {}) });
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
export function addRemoveCommand(parent: Command, noun: string, argument: readonly [name: string, description: string], description: string, remove: (cairn: CairnClient, id: string) => Promise<void>): void {
  parent
    .command('rm')
    .description(description)
    .argument(...argument)
    .option('--server <url>', 'the server')
    .action(async (id: string, options: { server?: string }) => {
      await remove(clientOf(options.server), id);
      say(json() ? JSON.stringify({ removed: id }) : `${noun} ${id} removed`);
    });
}

/** The `--config` file, when one was named. */
export function configOption(): { file?: string } {
  const file = program.opts<{ config?: string }>().config;
  return file === undefined ? {} : { file };
}

/**
 * Whether the module at `moduleUrl` is the process's entry point. `cairn` is usually a symlink (an
 * npm bin), so the entry is compared by its real path.
 */
export function isEntryPoint(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

/**
 * Runs the command the arguments name. Exit codes: 0 done, 1 a check or run failed (set by the
 * command), 2 bad input (an invalid run spec, config or request), 3 anything else; errors go to stderr,
 * as JSON with --json.
 */
export async function runCommandLine(argv: readonly string[] = process.argv): Promise<void> {
  // `cairn runs | head`: a reader that stops early is not an error. Stop quietly, keeping the
  // exit code the command has set so far.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit();
    throw error;
  });
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (isCairnError(error)) {
      const input = error.code.startsWith('CAIRN_RUN_SPEC') || error.code === 'CAIRN_CONFIG_INVALID' || error.code === 'CAIRN_PAYLOAD_INVALID';
      if (json()) process.stderr.write(`${JSON.stringify(error)}\n`);
      else {
        process.stderr.write(`${error.code}: ${error.message}\n`);
        for (const issue of error.issues) process.stderr.write(`  ${issue.path}  ${issue.message}\n`);
      }
      process.exitCode = input ? 2 : 3;
    } else {
      process.stderr.write(`unexpected error: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 3;
    }
  }
}
