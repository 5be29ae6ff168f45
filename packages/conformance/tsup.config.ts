import { definePackageBuild } from '../../tsup.config.base.ts';

export default definePackageBuild(
  { index: 'src/index.ts', 'mocks/index': 'src/mocks/index.ts', 'faults/index': 'src/faults/index.ts' },
  { external: ['vitest'] },
);
