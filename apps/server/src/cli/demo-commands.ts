import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CairnError } from '@cairn/protocol';
import { configFileNames, loadServerConfig } from '../config/load-server-config.ts';
import { clientOf, configOption, json, program, say } from './cli-program.ts';
import { progressOutput } from './run-progress.ts';

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
    .description(
      'init a server in a fresh directory, run the sample run through its API twice (live progress, an approval, patches, a reused pure check), then verify its evidence bundle',
    )
    .action(async (options: { directory?: string; server?: string }) => {
      const quiet = json();
      const { runDemo } = await import('../demo/run-demo.ts');
      const result = await runDemo({
        ...(options.directory === undefined ? {} : { directory: options.directory }),
        ...(options.server === undefined ? {} : { server: { client: clientOf(options.server), baseUrl: options.server, loaded: runningServerConfig() } }),
        say: quiet ? () => undefined : say,
        warn: (line) => void process.stderr.write(`${line}\n`),
        progress: progressOutput(quiet),
      });
      if (quiet) say(JSON.stringify(result));
      process.exitCode = result.state === 'succeeded' && result.againState === 'succeeded' && result.reusedItem !== null && result.verify.valid ? 0 : 1;
    });
}

/** The config of the server `--server` names: `--config`, or the one in this folder. */
function runningServerConfig() {
  const named = configOption();
  if (named.file !== undefined) return loadServerConfig(named);
  if (configFileNames.some((name) => existsSync(join(process.cwd(), name)))) return loadServerConfig({ directory: process.cwd() });
  throw new CairnError(
    'CAIRN_CONFIG_INVALID',
    `cairn demo --server verifies the run's evidence with the server's own signing key and anchors: run it in that server's folder (where its cairn.config is), or pass --config <file>. ${process.cwd()} holds none.`,
    { path: '--config' },
  );
}
