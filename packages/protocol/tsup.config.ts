import { definePackageBuild } from '../../tsup.config.base.ts';

// Two entries share code (CairnError, digests): split it into a chunk both import, so that
// `@cairn/protocol/workspace` throws the same CairnError class the root entry exports.
// `format` shares nothing and loads no schemas: the dashboard's first page imports it.
export default definePackageBuild(
  { index: 'src/index.ts', 'workspace/index': 'src/workspace/index.ts', 'format/index': 'src/format/index.ts' },
  { splitting: true },
);
