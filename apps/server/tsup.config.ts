import { definePackageBuild } from '../../tsup.config.base.ts';

// The CLI is an entry of its own: `cairn` runs dist/cli.js.
export default definePackageBuild({ index: 'src/index.ts', cli: 'src/cli/cli.ts' });
