import { definePackageBuild } from '../../tsup.config.base.ts';

// The CLI is an entry of its own: `cairn` runs dist/cli.js. Split into chunks so that a command's
// `await import(...)` really defers its dependencies: `cairn verify` or `cairn submit` never loads
// the engine, Fastify or SQLite.
export default definePackageBuild({ index: 'src/index.ts', cli: 'src/cli/cli.ts' }, { splitting: true });
