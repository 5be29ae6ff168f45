import { describeForge } from '../forge/describe-forge.ts';
import { createInMemoryForge } from './in-memory-forge.ts';

describeForge({
  name: 'in-memory',
  create: () => createInMemoryForge(),
  createBase: async (forge, files) => forge.addCommit({ parents: [], message: 'base\n', files: new Map(Object.entries(files)) }),
  // The oracle reads and moves the backend's maps only, as someone with the repository would.
  oracle: (forge) => ({
    readBranch: async (branch) => forge.backend.branches.get(branch) ?? null,
    readCommit: async (commit) => {
      const found = forge.backend.commits.get(commit);
      return found === undefined ? null : { parents: found.parents, message: found.message, files: Object.fromEntries(found.files) };
    },
    setBranch: async (branch, commit) => {
      forge.backend.branches.set(branch, commit);
    },
  }),
});
