import { definePackageBuild } from '../../tsup.config.base.ts';

// The two entries share the engine's code: split it into a chunk both import, so that a class from
// `@cairn/engine/internals` is the one `@cairn/engine` uses, not a copy.
export default definePackageBuild({ index: 'src/index.ts', internals: 'src/internals.ts' }, { splitting: true });
