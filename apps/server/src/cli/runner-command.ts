import { homedir } from 'node:os';
import { join } from 'node:path';
import { CairnError } from '@cairn/protocol/errors';
import { program, readInputFile } from './cli-program.ts';

/** How long a SIGTERM or SIGINT lets held attempts finish, by default: under systemd's 90 s stop timeout. */
const defaultDrainGraceSeconds = 60;

/**
 * `cairn runner`: this host runs attempts for a server (ADR 0050). It dials out (`--server`), with
 * the token in CAIRN_RUNNER_TOKEN, never an argument, which any user could read in `ps`. A first
 * SIGTERM or SIGINT drains (no new work; held attempts finish for `--drain-grace`, then stop); a
 * second stops at once. Exits 0 when stopped, 3 when the server refused the token or the version.
 */
export function addRunnerCommand(): void {
  program
    .command('runner')
    .description('run attempts for a server on this host, in bubblewrap sandboxes: dials out to --server with the token in CAIRN_RUNNER_TOKEN')
    .requiredOption('--server <url>', 'the address of the server (https://cairn.example.com)')
    .requiredOption(
      '--trusted-key-file <file...>',
      "the server's public signing key, which every attempt's manifest must be signed with: PEM, or a JSON {keyId, algorithm, publicKey} record",
    )
    .option('--labels <labels>', "this runner's labels, comma-separated (gpu,pool=build): items whose runsOn.labels are all among them run here")
    .option('--slots <n>', 'attempts run at once', '2')
    .option('--work-root <dir>', "where attempts get their working folders (default: the system's temporary folder)")
    .option('--state-directory <dir>', 'where exits not reported yet are kept (default: $XDG_STATE_HOME/cairn/runner, else ~/.local/state/cairn/runner)')
    .option(
      '--sandbox-uids <first>',
      "the first of the 1,000 uids this runner's sandboxes take in turn (default 200000, as the local executor's: give each runner or server on one host its own range)",
    )
    .option(
      '--no-fork-server',
      "fork the attempts' git and mount programs from the runner itself rather than from a small Perl fork server (slower; for a host where the fork server misbehaves)",
    )
    .option('--drain-grace <seconds>', 'how long a SIGTERM or SIGINT lets held attempts finish before stopping them', String(defaultDrainGraceSeconds))
    .action(
      async (options: {
        server: string;
        trustedKeyFile: string[];
        labels?: string;
        slots: string;
        workRoot?: string;
        stateDirectory?: string;
        sandboxUids?: string;
        drainGrace: string;
        forkServer: boolean;
      }) => {
        const token = process.env['CAIRN_RUNNER_TOKEN'];
        if (!token) {
          throw new CairnError(
            'CAIRN_CONFIG_INVALID',
            "CAIRN_RUNNER_TOKEN is not set: make a runner token in the server's folder (`cairn token create --name NAME --scope runners:run`) and set CAIRN_RUNNER_TOKEN to it. It is never an argument: anyone on this host could read it in `ps`.",
            { path: 'CAIRN_RUNNER_TOKEN' },
          );
        }
        const [{ createRunner }, { trustedKeyFromFile }, { createServerLogger }] = await Promise.all([
          import('@cairn/runner'),
          import('../capabilities/evidence/trusted-key-file.ts'),
          import('../logging/server-logger.ts'),
        ]);
        const trustedKeys = options.trustedKeyFile.map((file) => trustedKeyFromFile(readInputFile(file, 'the trusted key file').toString('utf8'), file));
        const logger = createServerLogger();
        const runner = createRunner({
          server: options.server,
          token,
          labels: (options.labels ?? '')
            .split(',')
            .map((label) => label.trim())
            .filter((label) => label !== ''),
          slots: wholeNumber(options.slots, '--slots'),
          trustedKeys,
          ...(options.workRoot === undefined ? {} : { workRoot: options.workRoot }),
          stateDirectory: options.stateDirectory ?? defaultStateDirectory(),
          ...(options.sandboxUids === undefined ? {} : { uids: { first: wholeNumber(options.sandboxUids, '--sandbox-uids'), count: 1_000 } }),
          drainGraceMs: wholeNumber(options.drainGrace, '--drain-grace') * 1_000,
          forkServer: options.forkServer,
          logger,
        });
        let signals = 0;
        const onSignal = (signal: NodeJS.Signals) => {
          signals++;
          logger.info({ signal }, signals === 1 ? 'draining: no new work, held attempts finish (again to stop at once)' : 'stopping at once');
          void runner.stop({ drain: signals === 1 });
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
        await runner.start();
        try {
          await runner.stopped;
        } finally {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
        }
      },
    );
}

/** `$XDG_STATE_HOME/cairn/runner`, else `~/.local/state/cairn/runner`. */
function defaultStateDirectory(): string {
  return join(process.env['XDG_STATE_HOME'] || join(homedir(), '.local', 'state'), 'cairn', 'runner');
}

function wholeNumber(text: string, option: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) {
    throw new CairnError('CAIRN_PAYLOAD_INVALID', `${option} ${text} is not a whole number.`, { path: option });
  }
  return value;
}
