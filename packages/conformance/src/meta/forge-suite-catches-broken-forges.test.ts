// Proves the forge suite can fail: each row runs one case against an in-memory forge broken in
// exactly the way the case exists to catch, and the same case against the correct mock.
import { describe, expect, test } from 'vitest';
import type { ChangeRequest, ChangeRequestDraft, ForgeBranchPush, PushedBranch } from '@cairn/core';
import { isCairnError } from '@cairn/protocol';
import { runConformanceCase } from '../harness/run-conformance-case.ts';
import { forgeCases } from '../forge/forge-cases.ts';
import type { ForgeSuiteOptions } from '../forge/forge-suite-options.ts';
import { InMemoryForge } from '../mocks/in-memory-forge.ts';

/** Ignores the lease: a refused push is pushed again without one. */
class LeaseIgnoringForge extends InMemoryForge {
  override async pushBranch(push: ForgeBranchPush): Promise<PushedBranch> {
    try {
      return await super.pushBranch(push);
    } catch (error) {
      if (!isCairnError(error, 'CAIRN_FORGE_CONFLICT')) throw error;
      const { expectedTip: _ignored, ...unleased } = push;
      return super.pushBranch(unleased);
    }
  }
}

/** Builds a new commit every time (a timestamp in the message), so nothing is ever `unchanged`. */
class AlwaysNewCommitForge extends InMemoryForge {
  #count = 0;
  override pushBranch(push: ForgeBranchPush): Promise<PushedBranch> {
    this.#count += 1;
    const { expectedTip: _ignored, ...unleased } = push;
    return super.pushBranch({ ...unleased, message: `${push.message}\n\nDelivery ${this.#count}` });
  }
}

/** Stacks each delivery on the branch's previous commit instead of replacing it. */
class StackingForge extends InMemoryForge {
  override async pushBranch(push: ForgeBranchPush): Promise<PushedBranch> {
    const pushed = await super.pushBranch(push);
    if (pushed.outcome === 'updated' && pushed.previous !== null) {
      const commit = this.backend.commits.get(pushed.commit)!;
      this.backend.commits.set(pushed.commit, { ...commit, parents: [pushed.previous] });
    }
    return pushed;
  }
}

/** Leaves the evidence trailer out of the commit message. */
class TrailerDroppingForge extends InMemoryForge {
  override async pushBranch(push: ForgeBranchPush): Promise<PushedBranch> {
    const pushed = await super.pushBranch(push);
    const commit = this.backend.commits.get(pushed.commit)!;
    this.backend.commits.set(pushed.commit, { ...commit, message: commit.message.replace(/\nCairn-Evidence: .*\n$/, '\n') });
    return pushed;
  }
}

/** Opens a new change request on every call. */
class DuplicatingChangeRequestForge extends InMemoryForge {
  override async openChangeRequest(draft: ChangeRequestDraft): Promise<ChangeRequest> {
    for (const request of this.backend.changeRequests.values()) this.backend.changeRequests.set(request.id, { ...request, state: 'closed' });
    return super.openChangeRequest(draft);
  }
}

/** Has the change-request methods but says it has none. */
class CapabilityHidingForge extends InMemoryForge {
  override readonly capabilities = { changeRequests: false };
}

function options(create: () => InMemoryForge): ForgeSuiteOptions {
  return {
    name: 'meta',
    create,
    createBase: async (forge, files) => (forge as InMemoryForge).addCommit({ parents: [], message: 'base\n', files: new Map(Object.entries(files)) }),
    oracle: (instance) => {
      const forge = instance as InMemoryForge;
      return {
        readBranch: async (branch) => forge.backend.branches.get(branch) ?? null,
        readCommit: async (commit) => {
          const found = forge.backend.commits.get(commit);
          return found === undefined ? null : { parents: found.parents, message: found.message, files: Object.fromEntries(found.files) };
        },
        setBranch: async (branch, commit) => {
          forge.backend.branches.set(branch, commit);
        },
      };
    },
  };
}

const rows: [string, string, () => InMemoryForge][] = [
  ['ignores the lease', 'lease-refuses-other-tip', () => new LeaseIgnoringForge()],
  ['ignores the lease', 'lease-keeps-someone-elses-push', () => new LeaseIgnoringForge()],
  ['ignores the lease', 'concurrent-creations-one-wins', () => new LeaseIgnoringForge()],
  ['never answers unchanged', 'push-again-unchanged', () => new AlwaysNewCommitForge()],
  ['never answers unchanged', 'retry-after-lost-answer', () => new AlwaysNewCommitForge()],
  ['stacks deliveries', 'push-new-patch-updates', () => new StackingForge()],
  ['drops a trailer', 'commit-on-base-with-trailers', () => new TrailerDroppingForge()],
  ['opens a change request per call', 'change-request-once-per-branch', () => new DuplicatingChangeRequestForge()],
  ['hides its capability', 'capabilities-declared', () => new CapabilityHidingForge()],
];

describe('the forge suite catches broken forges', () => {
  test.each(rows)('a forge that %s fails %s', async (_broken, caseId, create) => {
    await expect(runConformanceCase(forgeCases, caseId, options(create))).rejects.toThrow();
    await runConformanceCase(
      forgeCases,
      caseId,
      options(() => new InMemoryForge()),
    );
  });
});
