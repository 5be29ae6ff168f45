import { defineConfig } from 'vitest/config';

// Each package is its own vitest project (its `vitest.config.ts`); this file only gathers them.
export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*', 'tests', 'deploy/*'],
  },
});
