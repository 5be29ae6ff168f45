import { definePackageBuild } from '../../tsup.config.base.ts';

// Two entries share code (CairnError, digests): split it into a chunk both import, so that
// `@cairn/protocol/workspace` throws the same CairnError class the root entry exports.
export default definePackageBuild({ index: 'src/index.ts', 'workspace/index': 'src/workspace/index.ts' }, { splitting: true });
