import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CairnError } from '@cairn/protocol/errors';
import { configFileNames } from '../config/config-file-names.ts';
import type { LoadedServerConfig } from '../config/load-server-config.ts';
import { clientOf, configOption, json, program, say } from './cli-program.ts';
import { loadServerConfigLazily } from './lazy-server-config.ts';
import { progressOutput } from './run-progress.ts';
import type { DemoResult } from '../demo/run-demo.ts';

/** `cairn demo`: the README's main command (see `runDemo`, loaded when the command runs). */
export function addDemoCommands(): void {
  program
    .command('demo')
    .option(
      '--directory <dir>',
      'where to cairn init the demo server (default: a fresh temporary directory); with --server, where the sample and the bundle go',
    )
    .option(
      '--server <url>',
      "run the demo against this running server (cairn serve) instead of a fresh one; run it in that server's folder (or pass --config): its signing key and anchors are what the verification trusts. The token is CAIRN_TOKEN's (it needs runs:submit, runs:read, runs:approve)",
    )
    .option(
      '--keep-serving',
      "after the demo, keep its server up (its API and the dashboard, whose address it prints with the operator's token to sign in with) until Ctrl-C; not with --server, which serves on by itself",
    )
    .description(
      'init a server in a fresh directory, run the sample run through its API twice (live progress, an approval, patches, a reused pure check), then verify its evidence bundle; it prints the dashboard address',
    )
    .action(async (options: { directory?: string; server?: string; keepServing?: boolean }) => {
      const quiet = json();
      if (options.keepServing && options.server !== undefined)
        throw new CairnError(
          'CAIRN_CONFIG_INVALID',
          `cairn demo --keep-serving keeps the demo's own server up, but --server ${options.server} names a running one, which serves on by itself: drop --keep-serving.`,
          { path: '--keep-serving' },
        );
      const { runDemo } = await import('../demo/run-demo.ts');
      const succeeded = (result: DemoResult) =>
        result.state === 'succeeded' && result.againState === 'succeeded' && result.reusedItem !== null && result.verify.valid;
      const result = await runDemo({
        ...(options.directory === undefined ? {} : { directory: options.directory }),
        ...(options.server === undefined
          ? {}
          : { server: { client: await clientOf(options.server), baseUrl: options.server, loaded: await runningServerConfig() } }),
        say: quiet ? () => undefined : say,
        warn: (line) => void process.stderr.write(`${line}\n`),
        progress: progressOutput(quiet),
        ...(options.keepServing
          ? {
              keepServing: async ({ result, operatorToken }) => {
                // The outcome is told now, not at Ctrl-C: a script reads its JSON while it serves.
                if (quiet) say(JSON.stringify({ ...result, operatorToken }));
                else {
                  say('');
                  say(`dashboard at ${result.dashboard}`);
                  say(`operator token (admin; to sign in to the dashboard): ${operatorToken}`);
                  say('serving until Ctrl-C');
                }
                process.exitCode = succeeded(result) ? 0 : 1;
                await untilStopped();
              },
            }
          : {}),
      });
      if (!options.keepServing && quiet) say(JSON.stringify(result));
      process.exitCode = succeeded(result) ? 0 : 1;
    });
}

/** Resolves at the first Ctrl-C (SIGINT) or SIGTERM: the demo's server then closes as after any demo. */
function untilStopped(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** The config of the server `--server` names: `--config`, or the one in this folder. */
async function runningServerConfig(): Promise<LoadedServerConfig> {
  const named = configOption();
  if (named.file !== undefined) return loadServerConfigLazily(named);
  if (configFileNames.some((name) => existsSync(join(process.cwd(), name)))) return loadServerConfigLazily({ directory: process.cwd() });
  throw new CairnError(
    'CAIRN_CONFIG_INVALID',
    `cairn demo --server verifies the run's evidence with the server's own signing key and anchors: run it in that server's folder (where its cairn.config is), or pass --config <file>. ${process.cwd()} holds none.`,
    { path: '--config' },
  );
}
