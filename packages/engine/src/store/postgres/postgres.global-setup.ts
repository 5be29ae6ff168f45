import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Vitest global setup: makes sure the test PostgreSQL (`scripts/postgres.sh`) answers before any
 * test of the project runs. The script returns at once when it already does (the README's test
 * command starts it before vitest), and installs Debian's PostgreSQL when it is missing.
 */
export default function startPostgres(): void {
  const script = fileURLToPath(new URL('../../../../../scripts/postgres.sh', import.meta.url));
  execFileSync('bash', [script, 'start'], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
}
