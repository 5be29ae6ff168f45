import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

/**
 * Makes sure `program` is on the PATH, installing Debian's `debianPackage` when it is not and this
 * process is root (as scripts/setup.sh installs the test servers): the benchmarks' peers and
 * counters are Debian's builds, which every machine of this project can install. Throws with
 * the command to run otherwise.
 */
export function ensureDebianProgram(program: string, debianPackage: string): string {
  const found = whichProgram(program);
  if (found) return found;
  if (process.getuid?.() === 0) {
    // apt's download user cannot write to /tmp on these machines (mode 711): give it /var/tmp.
    const env = { ...process.env, TMPDIR: '/var/tmp', DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync('apt-get', ['install', '-y', '-qq', debianPackage], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    const installed = whichProgram(program);
    if (installed) return installed;
  }
  throw new Error(`${program} is missing: install it with \`sudo TMPDIR=/var/tmp apt-get install -y ${debianPackage}\`, then run the benchmark again`);
}

function whichProgram(program: string): string | undefined {
  for (const directory of (process.env.PATH ?? '').split(':').concat('/usr/sbin', '/usr/bin')) {
    if (!directory) continue;
    try {
      accessSync(join(directory, program), constants.X_OK);
      return join(directory, program);
    } catch {
      // not in this directory
    }
  }
  return undefined;
}
