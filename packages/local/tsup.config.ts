import { definePackageBuild } from '../../tsup.config.base.ts';

export default [
  definePackageBuild({ index: 'src/index.ts' }),
  // The supervisor process of each local execution (`dist/execution-supervisor.js`, next to the
  // index that spawns it); its dependencies are the package's own, imported, not bundled.
  definePackageBuild({ 'execution-supervisor': 'src/supervisor/supervisor-entry.ts' }, { clean: false, dts: false }),
];
