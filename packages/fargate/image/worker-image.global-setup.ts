import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { workerBundlePath } from './worker-image-paths.ts';

/**
 * Vitest global setup: builds the cairn-worker image (build-image.sh) before the tests that run
 * it. The script returns in seconds when its inputs have not changed, so every project that runs
 * the image (this one, the ECS test endpoint's) may list this file; the README's test command
 * also runs it as a step of its own before vitest.
 */
export default function buildWorkerImage(): void {
  const script = fileURLToPath(new URL('./build-image.sh', import.meta.url));
  execFileSync('bash', [script, workerBundlePath()], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 600_000 });
}
