import { definePackageBuild } from '../../tsup.config.base.ts';

// `http` (the client without zod at import, for the `cairn` CLI's start) shares the client's class
// with the root entry through a chunk, so both entries hand out the same class; the settings
// schema `openCairnClient` imports on demand is the root's own module, not a second copy.
export default definePackageBuild({ index: 'src/index.ts', 'http/index': 'src/http/index.ts' }, { splitting: true });
