// Runs publint and `attw --pack --profile esm-only` on every publishable package. Packages must
// be built first (scripts/setup.sh builds them). Exits non-zero naming each package that fails.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { publishablePackages, repositoryRoot } from './workspace-packages.mjs';

const bin = (name) => join(repositoryRoot, 'node_modules', '.bin', name);
const failures = [];
for (const { name, directory } of publishablePackages()) {
  for (const [tool, args] of [
    ['publint', [bin('publint'), '--strict', directory]],
    ['attw', [bin('attw'), '--pack', directory, '--profile', 'esm-only', '--format', 'table-flipped']],
  ]) {
    const result = spawnSync(args[0], args.slice(1), { encoding: 'utf8', cwd: directory });
    if (result.status !== 0) {
      failures.push(`${name}: ${tool}`);
      process.stdout.write(`-- ${name}: ${tool} failed\n${result.stdout}${result.stderr}\n`);
    }
  }
  process.stdout.write(`${name}: ${failures.some((f) => f.startsWith(`${name}:`)) ? 'FAILED' : 'ok'}\n`);
}
if (failures.length > 0) {
  process.stdout.write(`package lint failed: ${failures.join(', ')}\n`);
  process.exit(1);
}
