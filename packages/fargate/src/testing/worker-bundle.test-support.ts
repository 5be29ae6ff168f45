import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'tsup';

/**
 * Vitest global setup: bundles `dist/cairn-worker.js` from the current sources before the tests
 * run, so tasks never run a stale build of the worker (the ECS test endpoint runs that file).
 * The test command runs it too, before it builds the worker image from that file.
 *
 * The bundle is byte for byte what `pnpm build` writes (the same config, its source map included):
 * the worker image is cached by the bundle's hash, so any difference between the two builds would
 * rebuild the image (minutes) after every `pnpm build`.
 */
export default async function bundleWorker(): Promise<void> {
  const { default: configs } = (await import(fileURLToPath(new URL('../../tsup.config.ts', import.meta.url)))) as { default: Parameters<typeof build>[0][] };
  const worker = configs.find((config) => typeof config.entry === 'object' && config.entry !== null && 'cairn-worker' in config.entry);
  if (!worker) throw new Error('tsup.config.ts has no cairn-worker entry');
  // The config's paths are relative to the package; vitest runs from the repository's root.
  const packageRoot = fileURLToPath(new URL('../..', import.meta.url));
  const entry = Object.fromEntries(Object.entries(worker.entry as Record<string, string>).map(([name, path]) => [name, join(packageRoot, path)]));
  await build({ ...worker, entry, outDir: join(packageRoot, 'dist'), silent: true, config: false });
}
