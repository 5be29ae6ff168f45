import { definePackageBuild } from '../../tsup.config.base.ts';

export default [
  definePackageBuild({ index: 'src/index.ts', 'testing/index': 'src/testing/index.ts' }),
  // The task entrypoint is ONE file with every dependency inside (the worker image copies only it
  // to /opt/cairn/cairn-worker.js). Bundled CommonJS code (the AWS SDK's) calls require: the banner
  // gives the ES module one.
  definePackageBuild(
    { 'cairn-worker': 'src/worker/cairn-worker.ts' },
    {
      clean: false,
      dts: false,
      noExternal: [/.*/],
      banner: {
        js: "#!/usr/bin/env node\nimport { createRequire as __cairnCreateRequire } from 'node:module';\nconst require = __cairnCreateRequire(import.meta.url);",
      },
    },
  ),
];
