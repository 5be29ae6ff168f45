import { defineConfig, type Options } from 'tsup';

/**
 * The one build template every package uses: ESM only, declarations, source maps, no bundling
 * of dependencies. A package passes its entry points (the same ones its `exports` map names,
 * which the package-shape test checks).
 */
export function definePackageBuild(entry: Record<string, string>, overrides: Options = {}) {
  return defineConfig({
    entry,
    format: ['esm'],
    target: 'node22',
    platform: 'node',
    // CAIRN_BUILD_DECLARATIONS=no: JavaScript only, a tenth of the time (scripts/setup.sh for the demo).
    dts: process.env.CAIRN_BUILD_DECLARATIONS === 'no' ? false : { compilerOptions: { composite: false, customConditions: [] } },
    sourcemap: true,
    clean: true,
    splitting: false,
    treeshake: false,
    outDir: 'dist',
    ...overrides,
  });
}
