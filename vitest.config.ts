import { defineConfig } from 'vitest/config';

// Each package is its own vitest project (its `vitest.config.ts`); this file only gathers them.
// Projects are found by their config file, not their folder: a folder without one (the fargate
// package's image/ before its src/ exists) would otherwise become a second, setup-less project.
export default defineConfig({
  test: {
    projects: ['packages/*/vitest.config.ts', 'apps/*', 'tests', 'tests/vitest.server-image.config.ts', 'bench', 'deploy/*', 'packages/fargate/image'],
  },
});
