import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Vitest global setup: makes sure the test S3 server (radosgw, `scripts/radosgw.sh`) answers
 * before any test of the project runs. The script returns at once when it already does (the
 * README's test command starts it before vitest), so every project may list this file.
 */
export default function startRadosgw(): void {
  const script = fileURLToPath(new URL('../../../../scripts/radosgw.sh', import.meta.url));
  execFileSync('bash', [script, 'start'], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 180_000 });
}
