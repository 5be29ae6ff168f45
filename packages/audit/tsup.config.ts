import { definePackageBuild } from '../../tsup.config.base.ts';

// The inclusion worker is a file of its own: verifyMultiInclusionOfTexts starts it by URL.
export default definePackageBuild({ index: 'src/index.ts', 'inclusion-worker': 'src/merkle/inclusion-worker.ts' });
