import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { workerBundlePath } from './worker-image-paths.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Why build-image.sh failed, for the image's tests to report; null when the image was built. */
    workerImageBuildFailure: string | null;
  }
}

/**
 * Vitest global setup: builds the cairn-worker image (build-image.sh) before the tests that run
 * it. The script returns in seconds when its inputs have not changed, so every project that runs
 * the image (this one, the server's) may list this file, after the worker bundle's global setup;
 * the README's test command builds the bundle and the image the same way before vitest, so in its
 * run every one of these calls finds the image up to date.
 *
 * A failed build is handed to the image's tests (`inject('workerImageBuildFailure')`), which fail
 * with it, rather than thrown here: a global setup that throws ends the whole vitest run, every
 * other project's tests unreported, for want of one image.
 */
export default function buildWorkerImage(project: TestProject): void {
  const script = fileURLToPath(new URL('./build-image.sh', import.meta.url));
  try {
    // As the test command builds it: a Debian package newer than packages.lock pins is a warning
    // (build-image.sh's CAIRN_IMAGE_LOCK_DRIFT), not a reason to fail every test that runs the image.
    const env = { ...process.env, CAIRN_IMAGE_LOCK_DRIFT: process.env['CAIRN_IMAGE_LOCK_DRIFT'] ?? 'report' };
    execFileSync('bash', [script, workerBundlePath()], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 600_000, env });
    project.provide('workerImageBuildFailure', null);
  } catch (error) {
    const { status, signal } = error as { status?: number | null; signal?: string | null };
    const how = signal ? `was stopped by ${signal}` : `exited ${String(status)}`;
    // The script's own lines ([build-image] error: ...) went to standard error above this.
    project.provide('workerImageBuildFailure', `build-image.sh ${how}: see its "[build-image] error:" line in the test output for why`);
  }
}
