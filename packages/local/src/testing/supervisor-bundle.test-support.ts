import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Options } from 'tsup';
import { supervisorBundleVariable } from '../supervisor/start-supervisor.ts';

/**
 * Vitest global setup: bundles the supervisor of local executions from the current sources (its
 * dependencies' sources too, through their `@cairn/source` entries) into one file, once per test
 * run, and names it in `CAIRN_TEST_SUPERVISOR_BUNDLE`, which the executor run from sources then
 * starts instead of `supervisor-entry.ts`. Every attempt starts a supervisor: loading its few
 * hundred source modules one by one cost ~0.4 s of CPU each (V8's code cache warm), the bundle
 * ~0.15 s (measured here), as the published one does (ADR 0032). A run without this setup (one file under a
 * scratch config) starts the sources, as before.
 */
export default async function bundleSupervisor(): Promise<(() => void) | undefined> {
  // Several projects name this setup; the first one of a run bundles for all (the workers inherit the variable).
  if (process.env[supervisorBundleVariable] !== undefined) return undefined;
  const { default: configs } = (await import(fileURLToPath(new URL('../../tsup.config.ts', import.meta.url)))) as { default: Options[] };
  const supervisor = configs.find((config) => typeof config.entry === 'object' && config.entry !== null && 'execution-supervisor' in config.entry);
  if (!supervisor) throw new Error('packages/local/tsup.config.ts has no execution-supervisor entry');
  // The config's paths are relative to the package; vitest runs from the repository's root.
  const packageRoot = fileURLToPath(new URL('../..', import.meta.url));
  const entry = Object.fromEntries(Object.entries(supervisor.entry as Record<string, string>).map(([name, path]) => [name, join(packageRoot, path)]));
  const outDir = mkdtempSync(join(tmpdir(), 'cairn-supervisor-bundle-'));
  await build({
    ...supervisor,
    entry,
    outDir,
    sourcemap: false,
    silent: true,
    config: false,
    // The workspace's packages from their sources, as the tests import them, never their dist.
    esbuildOptions: (options) => {
      options.conditions = ['@cairn/source'];
    },
  });
  process.env[supervisorBundleVariable] = join(outDir, 'execution-supervisor.js');
  return () => {
    delete process.env[supervisorBundleVariable];
    rmSync(outDir, { recursive: true, force: true });
  };
}
