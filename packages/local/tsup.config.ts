import { definePackageBuild } from '../../tsup.config.base.ts';

export default [
  definePackageBuild({ index: 'src/index.ts' }),
  // The supervisor process of each local execution (`dist/execution-supervisor.js`, next to the
  // index that spawns it), one per attempt: bundled with its dependencies into one file. Resolving
  // and loading its dependency graph file by file (zod's alone is hundreds of modules) cost ~320 ms
  // of CPU per attempt before it did anything, one file ~200 ms (measured here): see ADR 0032.
  definePackageBuild(
    { 'execution-supervisor': 'src/supervisor/supervisor-entry.ts' },
    {
      clean: false,
      dts: false,
      noExternal: [/.*/],
      // Bundled CommonJS dependencies call require(), which an ES module does not have.
      banner: { js: "import { createRequire as __cairnCreateRequire } from 'node:module'; const require = __cairnCreateRequire(import.meta.url);" },
    },
  ),
];
