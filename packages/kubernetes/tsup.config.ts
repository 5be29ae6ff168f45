import { definePackageBuild } from '../../tsup.config.base.ts';

export default definePackageBuild({ index: 'src/index.ts', 'testing/index': 'src/testing/index.ts' });
