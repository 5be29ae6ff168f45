import { json, program, say } from './cli-program.ts';
import { progressOutput } from './run-progress.ts';

/** `cairn demo`: the README's main command (see `runDemo`, loaded when the command runs). */
export function addDemoCommands(): void {
  program
    .command('demo')
    .option('--directory <dir>', 'where to cairn init the demo server (default: a fresh temporary directory)')
    .description(
      'init a server in a fresh directory, run the sample run through its API twice (live progress, an approval, patches, a reused pure check), then verify its evidence bundle',
    )
    .action(async (options: { directory?: string }) => {
      const quiet = json();
      const { runDemo } = await import('../demo/run-demo.ts');
      const result = await runDemo({
        ...(options.directory === undefined ? {} : { directory: options.directory }),
        say: quiet ? () => undefined : say,
        warn: (line) => void process.stderr.write(`${line}\n`),
        progress: progressOutput(quiet),
      });
      if (quiet) say(JSON.stringify(result));
      process.exitCode = result.state === 'succeeded' && result.againState === 'succeeded' && result.reusedItem !== null && result.verify.valid ? 0 : 1;
    });
}
