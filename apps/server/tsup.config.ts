import { cpSync, existsSync } from 'node:fs';
import { definePackageBuild } from '../../tsup.config.base.ts';

// The dashboard's static files (apps/dashboard, built before this package: it is a dev
// dependency) ship inside the server as dist/dashboard, which dashboard-routes.ts serves.
const dashboard = new URL('../dashboard/dist/', import.meta.url);

// The CLI is an entry of its own: `cairn` runs dist/cli.js. Split into chunks so that a command's
// `await import(...)` really defers its dependencies: `cairn verify` or `cairn submit` never loads
// the engine, Fastify or SQLite.
export default definePackageBuild(
  { index: 'src/index.ts', cli: 'src/cli/cli.ts' },
  {
    splitting: true,
    onSuccess: async () => {
      if (!existsSync(new URL('index.html', dashboard)))
        throw new Error('apps/dashboard/dist is missing: build the dashboard first (pnpm --filter @cairn/dashboard build, or pnpm -r build).');
      cpSync(dashboard, new URL('./dist/dashboard/', import.meta.url), { recursive: true });
    },
  },
);
