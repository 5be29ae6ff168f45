import { definePackageBuild } from '../../tsup.config.base.ts';

// Two entries share code (CairnError, digests): split it into a chunk both import, so that
// `@cairn/protocol/workspace` throws the same CairnError class the root entry exports.
// `format` shares nothing and loads no schemas: the dashboard's first page imports it. `errors`
// (the CairnError family, the same class through the shared chunk) and `lifecycle` (the states and
// their transitions) load no zod and no schema either: `cairn --help` and a command that only
// speaks HTTP import them, not the root, whose schemas cost a start 130 ms. Nor does `spec` (a run
// spec's bytes to text, and its text to a value, YAML's parser loaded only for a YAML text):
// `cairn submit` reads a spec with it and leaves the check to the server.
export default definePackageBuild(
  {
    index: 'src/index.ts',
    'workspace/index': 'src/workspace/index.ts',
    'format/index': 'src/format/index.ts',
    'errors/index': 'src/errors/index.ts',
    'lifecycle/index': 'src/lifecycle/index.ts',
    'spec/index': 'src/spec/index.ts',
  },
  { splitting: true },
);
