import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'tsup';

/**
 * Vitest global setup: bundles `dist/cairn-worker.js` from the current sources before the tests
 * run, so tasks never run a stale build of the worker (the ECS test endpoint runs that file).
 */
export default async function bundleWorker(): Promise<void> {
  const { default: configs } = (await import(fileURLToPath(new URL('../../tsup.config.ts', import.meta.url)))) as { default: Parameters<typeof build>[0][] };
  const worker = configs.find((config) => typeof config.entry === 'object' && config.entry !== null && 'cairn-worker' in config.entry);
  if (!worker) throw new Error('tsup.config.ts has no cairn-worker entry');
  // The config's paths are relative to the package; vitest runs from the repository's root.
  const packageRoot = fileURLToPath(new URL('../..', import.meta.url));
  const entry = Object.fromEntries(Object.entries(worker.entry as Record<string, string>).map(([name, path]) => [name, join(packageRoot, path)]));
  await build({ ...worker, entry, outDir: join(packageRoot, 'dist'), silent: true, sourcemap: false, config: false });
}
