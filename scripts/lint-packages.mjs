// Runs publint and `attw --pack --profile esm-only` on every publishable package. Packages must
// be built first (scripts/setup.sh builds them). Exits non-zero naming each package that fails.
// The checks run as many at a time as the machine has cores: each is a process of its own that
// mostly waits (npm pack, reading files), and one at a time they took a minute of the test command.
import { execFile } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { publishablePackages, repositoryRoot } from './workspace-packages.mjs';

const run = promisify(execFile);
const bin = (name) => join(repositoryRoot, 'node_modules', '.bin', name);
const checks = publishablePackages().flatMap(({ name, directory }) => [
  { name, tool: 'publint', args: [bin('publint'), '--strict', directory], directory },
  { name, tool: 'attw', args: [bin('attw'), '--pack', directory, '--profile', 'esm-only', '--format', 'table-flipped'], directory },
]);

/** Each check's output when it failed, undefined when it passed; in the checks' order. */
const outcomes = new Array(checks.length);
let next = 0;
async function worker() {
  while (next < checks.length) {
    const index = next++;
    const { args, directory } = checks[index];
    outcomes[index] = await run(args[0], args.slice(1), { encoding: 'utf8', cwd: directory, maxBuffer: 64 * 1024 * 1024 }).then(
      () => undefined,
      (error) => `${error.stdout ?? ''}${error.stderr ?? ''}${error.stdout || error.stderr ? '' : String(error)}`,
    );
  }
}
await Promise.all(Array.from({ length: Math.min(availableParallelism(), checks.length) }, worker));

const failures = [];
for (const { name } of publishablePackages()) {
  const own = checks.flatMap((check, index) => (check.name === name ? [{ ...check, output: outcomes[index] }] : []));
  for (const { tool, output } of own) {
    if (output === undefined) continue;
    failures.push(`${name}: ${tool}`);
    process.stdout.write(`-- ${name}: ${tool} failed\n${output}\n`);
  }
  process.stdout.write(`${name}: ${own.some(({ output }) => output !== undefined) ? 'FAILED' : 'ok'}\n`);
}
if (failures.length > 0) {
  process.stdout.write(`package lint failed: ${failures.join(', ')}\n`);
  process.exit(1);
}
