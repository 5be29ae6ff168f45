import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import type { ForgeBranchPush, ForgeV1, PushedBranch } from '@cairn/core';
import { isCairnError } from '@cairn/protocol';
import { utf8 } from '../harness/bytes.ts';
import type { ConformanceCase } from '../harness/conformance-case.ts';
import { describeError, expectCairnError } from '../harness/expect-cairn-error.ts';
import { fail } from '../harness/fail.ts';
import type { ForgeOracle } from './forge-oracle.ts';
import type { ForgeSuiteOptions } from './forge-suite-options.ts';

/** One forge case. */
export type ForgeCase = ConformanceCase<ForgeV1, ForgeOracle, ForgeSuiteOptions>;

const baseFiles = { 'README.md': 'hello\n', 'src/app.txt': 'one\ntwo\nthree\n' } as const;
const evidence = `sha256:${createHash('sha256').update('an evidence bundle').digest('hex')}` as const;
const commitId = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/** A `git diff` adding `path` with `text` (one or more whole lines), as the worker captures it. */
function addFile(path: string, text: string): string {
  const lines = text.split('\n').slice(0, -1);
  return [
    `diff --git a/${path} b/${path}`,
    'new file mode 100644',
    '--- /dev/null',
    `+++ b/${path}`,
    `@@ -0,0 +1,${lines.length} @@`,
    ...lines.map((line) => `+${line}`),
    '',
  ].join('\n');
}

/**
 * A `git diff` changing line `lineNumber` (1-based) of `path`, whose lines are `lines`, to `after`,
 * with the whole file as context (`git apply` wants context lines).
 */
function changeLine(path: string, lines: readonly string[], lineNumber: number, after: string): string {
  const body = lines.flatMap((line, index) => (index === lineNumber - 1 ? [`-${line}`, `+${after}`] : [` ${line}`]));
  return [`diff --git a/${path} b/${path}`, `--- a/${path}`, `+++ b/${path}`, `@@ -1,${lines.length} +1,${lines.length} @@`, ...body, ''].join('\n');
}

function delivery(base: string, patch: string, overrides: Partial<ForgeBranchPush> = {}): ForgeBranchPush {
  return {
    branch: 'cairn/tidy-logging',
    base,
    patch: utf8(patch),
    message: 'Tidy the logging\n\nWritten by a Cairn run.',
    runId: 'run-0001',
    evidenceDigest: evidence,
    ...overrides,
  };
}

function expectPushed(
  pushed: PushedBranch,
  expected: { branch: string; base: string; outcome: PushedBranch['outcome']; previous: string | null },
  what: string,
): void {
  expect(pushed.commit, `${what}: commit is a full commit id`).toMatch(commitId);
  expect({ branch: pushed.branch, base: pushed.base, outcome: pushed.outcome, previous: pushed.previous }, what).toEqual(expected);
  expect(JSON.parse(JSON.stringify(pushed)), `${what}: the result is plain JSON`).toStrictEqual(pushed);
}

/** The last paragraph of a commit message: where git looks for trailers. */
function trailerBlock(message: string): string[] {
  const paragraphs = message.trimEnd().split(/\n\s*\n/);
  return (paragraphs.at(-1) ?? '').split('\n');
}

/** The ForgeV1 cases, in registration order; exported for meta-tests. */
export const forgeCases: readonly ForgeCase[] = [
  {
    id: 'capabilities-declared',
    title:
      'declares v1, its provider and capabilities; the change-request methods are present exactly when changeRequests is true, gitAccess exactly when gitAccess is',
    async run({ instance }) {
      expect(instance.specificationVersion).toBe('v1');
      expect(typeof instance.provider).toBe('string');
      expect(typeof instance.capabilities.changeRequests).toBe('boolean');
      for (const method of ['openChangeRequest', 'commentOnChangeRequest', 'readChangeRequest'] as const) {
        expect(typeof instance[method] === 'function', `${method} is present`).toBe(instance.capabilities.changeRequests);
      }
      expect(typeof instance.gitAccess === 'function', 'gitAccess is present').toBe(instance.capabilities.gitAccess === true);
    },
  },
  {
    id: 'push-creates-branch',
    title: 'pushing a new branch creates it (outcome created, previous null) and readBranch answers the commit',
    async run({ instance, options }) {
      const base = await options.createBase(instance, baseFiles);
      const pushed = await instance.pushBranch(delivery(base, addFile('notes/delivered.txt', 'delivered\n')));
      expectPushed(pushed, { branch: 'cairn/tidy-logging', base, outcome: 'created', previous: null }, 'the first push');
      expect(pushed.commit, 'the delivery is a new commit, not the base').not.toBe(base);
      expect(await instance.readBranch('cairn/tidy-logging')).toEqual({ branch: 'cairn/tidy-logging', commit: pushed.commit });
    },
  },
  {
    id: 'commit-on-base-with-trailers',
    title: 'the branch holds one commit on the base: the base’s files with the patch applied, the message, then Cairn-Run and Cairn-Evidence trailers (oracle)',
    needs: { oracle: true },
    async run({ instance, oracle, options }) {
      const base = await options.createBase(instance, baseFiles);
      const patch = `${addFile('notes/delivered.txt', 'delivered\nreviewed\n')}${changeLine('src/app.txt', ['one', 'two', 'three'], 2, 'TWO')}`;
      const pushed = await instance.pushBranch(delivery(base, patch, { runId: 'run-trailers' }));
      expect(await oracle!.readBranch('cairn/tidy-logging'), 'the branch in the repository').toBe(pushed.commit);
      const commit = await oracle!.readCommit(pushed.commit);
      if (commit === null) fail(`the repository has no commit ${pushed.commit}`);
      expect(commit.parents, 'one commit whose only parent is the base').toEqual([base]);
      expect(commit.files, 'the base’s files with the patch applied').toEqual({
        'README.md': 'hello\n',
        'src/app.txt': 'one\nTWO\nthree\n',
        'notes/delivered.txt': 'delivered\nreviewed\n',
      });
      expect(commit.message.startsWith('Tidy the logging\n\nWritten by a Cairn run.\n'), `the message comes first: ${JSON.stringify(commit.message)}`).toBe(
        true,
      );
      expect(trailerBlock(commit.message), 'the trailers are the message’s last paragraph').toEqual(['Cairn-Run: run-trailers', `Cairn-Evidence: ${evidence}`]);
    },
  },
  {
    id: 'push-again-unchanged',
    title: 'delivering the same thing again pushes nothing: outcome unchanged with the same commit',
    async run({ instance, options }) {
      const base = await options.createBase(instance, baseFiles);
      const push = delivery(base, addFile('notes/delivered.txt', 'delivered\n'));
      const first = await instance.pushBranch(push);
      const again = await instance.pushBranch(push);
      expectPushed(again, { branch: push.branch, base, outcome: 'unchanged', previous: first.commit }, 'the second push');
      expect(again.commit).toBe(first.commit);
      expect((await instance.readBranch(push.branch))?.commit).toBe(first.commit);
    },
  },
  {
    id: 'push-new-patch-updates',
    title: 'delivering a new patch to the branch replaces its commit (outcome updated, previous the old one): still one commit on the base (oracle)',
    needs: { oracle: true },
    async run({ instance, oracle, options }) {
      const base = await options.createBase(instance, baseFiles);
      const first = await instance.pushBranch(delivery(base, addFile('notes/first.txt', 'first\n')));
      const second = await instance.pushBranch(delivery(base, addFile('notes/second.txt', 'second\n'), { message: 'Tidy the logging, again' }));
      expectPushed(second, { branch: 'cairn/tidy-logging', base, outcome: 'updated', previous: first.commit }, 'the second push');
      expect(second.commit).not.toBe(first.commit);
      expect(await oracle!.readBranch('cairn/tidy-logging')).toBe(second.commit);
      const commit = await oracle!.readCommit(second.commit);
      expect(commit?.parents, 'the new commit replaces the old one on the base, it does not stack on it').toEqual([base]);
      expect(commit?.files, 'only the new patch is in it').toEqual({ ...baseFiles, 'notes/second.txt': 'second\n' });
    },
  },
  {
    id: 'expected-tip-replaces',
    title: 'a push with expectedTip set to the branch’s tip replaces it; with expectedTip null it creates the branch',
    async run({ instance, options }) {
      const base = await options.createBase(instance, baseFiles);
      const first = await instance.pushBranch(delivery(base, addFile('a.txt', 'a\n'), { expectedTip: null }));
      expect(first.outcome).toBe('created');
      const second = await instance.pushBranch(delivery(base, addFile('b.txt', 'b\n'), { expectedTip: first.commit }));
      expectPushed(second, { branch: 'cairn/tidy-logging', base, outcome: 'updated', previous: first.commit }, 'the leased push');
    },
  },
  {
    id: 'retry-after-lost-answer',
    title: 'a retry of a push that already landed (its expectedTip now stale) answers unchanged, not a conflict',
    async run({ instance, options }) {
      const base = await options.createBase(instance, baseFiles);
      const created = await instance.pushBranch(delivery(base, addFile('a.txt', 'a\n'), { expectedTip: null }));
      const retried = await instance.pushBranch(delivery(base, addFile('a.txt', 'a\n'), { expectedTip: null }));
      expectPushed(retried, { branch: 'cairn/tidy-logging', base, outcome: 'unchanged', previous: created.commit }, 'the retried creation');
      const updated = await instance.pushBranch(delivery(base, addFile('b.txt', 'b\n'), { expectedTip: created.commit }));
      const again = await instance.pushBranch(delivery(base, addFile('b.txt', 'b\n'), { expectedTip: created.commit }));
      expect({ outcome: again.outcome, commit: again.commit }, 'the retried update').toEqual({ outcome: 'unchanged', commit: updated.commit });
    },
  },
  {
    id: 'lease-refuses-other-tip',
    title: 'a push whose expectedTip is not the branch’s tip (or null for an existing branch) is CAIRN_FORGE_CONFLICT and changes nothing',
    async run({ instance, options }) {
      const base = await options.createBase(instance, baseFiles);
      const first = await instance.pushBranch(delivery(base, addFile('a.txt', 'a\n')));
      await expectCairnError(
        () => instance.pushBranch(delivery(base, addFile('b.txt', 'b\n'), { expectedTip: null })),
        'CAIRN_FORGE_CONFLICT',
        'expectedTip null for an existing branch',
      );
      await expectCairnError(
        () => instance.pushBranch(delivery(base, addFile('b.txt', 'b\n'), { expectedTip: base })),
        'CAIRN_FORGE_CONFLICT',
        'expectedTip another commit than the tip',
      );
      await expectCairnError(
        () => instance.pushBranch(delivery(base, addFile('b.txt', 'b\n'), { branch: 'cairn/never-pushed', expectedTip: first.commit })),
        'CAIRN_FORGE_CONFLICT',
        'expectedTip a commit for a branch that does not exist',
      );
      expect((await instance.readBranch('cairn/tidy-logging'))?.commit, 'the branch did not move').toBe(first.commit);
      expect(await instance.readBranch('cairn/never-pushed'), 'no branch was created').toBeNull();
    },
  },
  {
    id: 'lease-keeps-someone-elses-push',
    title: 'when someone else pushed to the branch since, a push leased on the old tip is CAIRN_FORGE_CONFLICT and their commit stays (oracle)',
    needs: { oracle: true },
    async run({ instance, oracle, options }) {
      const base = await options.createBase(instance, baseFiles);
      const ours = await instance.pushBranch(delivery(base, addFile('a.txt', 'a\n')));
      const theirs = await options.createBase(instance, { 'theirs.txt': 'a human’s commit\n' });
      await oracle!.setBranch('cairn/tidy-logging', theirs);
      await expectCairnError(
        () => instance.pushBranch(delivery(base, addFile('b.txt', 'b\n'), { expectedTip: ours.commit })),
        'CAIRN_FORGE_CONFLICT',
        'a push leased on our old tip',
      );
      expect(await oracle!.readBranch('cairn/tidy-logging'), 'their commit is still the tip').toBe(theirs);
      expect(await instance.readBranch('cairn/tidy-logging'), 'readBranch sees their commit').toEqual({ branch: 'cairn/tidy-logging', commit: theirs });
    },
  },
  {
    id: 'concurrent-creations-one-wins',
    title: 'of two different deliveries creating one branch concurrently (expectedTip null), exactly one lands and the other is CAIRN_FORGE_CONFLICT',
    async run({ instance, options }) {
      const base = await options.createBase(instance, baseFiles);
      const contenders = [
        delivery(base, addFile('left.txt', 'left\n'), { expectedTip: null }),
        delivery(base, addFile('right.txt', 'right\n'), { expectedTip: null }),
      ];
      const settled = await Promise.allSettled(contenders.map((push) => instance.pushBranch(push)));
      const winners = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
      if (winners.length !== 1) fail(`${winners.length} of two conflicting creations succeeded; exactly one may (a lease on "no branch")`);
      const loser = settled.find((result) => result.status === 'rejected');
      if (!isCairnError(loser?.reason, 'CAIRN_FORGE_CONFLICT'))
        fail(`the losing creation did not reject with CAIRN_FORGE_CONFLICT: ${describeError(loser?.reason)}`);
      expect((await instance.readBranch('cairn/tidy-logging'))?.commit, 'the winner is the tip').toBe(winners[0]!.commit);
    },
  },
  {
    id: 'branches-independent',
    title: 'deliveries to two branches from one base do not touch each other',
    async run({ instance, options }) {
      const base = await options.createBase(instance, baseFiles);
      const left = await instance.pushBranch(delivery(base, addFile('left.txt', 'left\n'), { branch: 'cairn/left' }));
      const right = await instance.pushBranch(delivery(base, addFile('right.txt', 'right\n'), { branch: 'cairn/right' }));
      expect(left.outcome).toBe('created');
      expect(right.outcome).toBe('created');
      expect((await instance.readBranch('cairn/left'))?.commit).toBe(left.commit);
      expect((await instance.readBranch('cairn/right'))?.commit).toBe(right.commit);
    },
  },
  {
    id: 'read-missing-branch-null',
    title: 'readBranch of a branch that does not exist resolves to null, never throws',
    async run({ instance, options }) {
      expect(await instance.readBranch('cairn/nothing-here')).toBeNull();
      const base = await options.createBase(instance, baseFiles);
      await instance.pushBranch(delivery(base, addFile('a.txt', 'a\n'), { branch: 'cairn/something' }));
      expect(await instance.readBranch('cairn/some'), 'a prefix of a branch is not that branch').toBeNull();
    },
  },
  {
    id: 'patch-must-apply',
    title: 'a patch that does not apply to its base, or a base the forge does not have, is CAIRN_FORGE_PATCH_INVALID and creates no branch',
    async run({ instance, options }) {
      const base = await options.createBase(instance, baseFiles);
      await expectCairnError(
        () => instance.pushBranch(delivery(base, changeLine('src/app.txt', ['one', 'not there', 'three'], 2, 'TWO'))),
        'CAIRN_FORGE_PATCH_INVALID',
        'a patch over lines the base does not have',
      );
      await expectCairnError(
        () => instance.pushBranch(delivery(base, addFile('README.md', 'again\n'))),
        'CAIRN_FORGE_PATCH_INVALID',
        'a patch adding a file the base has',
      );
      const unknown = createHash(base.length === 64 ? 'sha256' : 'sha1')
        .update('a commit nobody made')
        .digest('hex');
      await expectCairnError(
        () => instance.pushBranch(delivery(unknown, addFile('a.txt', 'a\n'))),
        'CAIRN_FORGE_PATCH_INVALID',
        'a base the forge does not have',
      );
      expect(await instance.readBranch('cairn/tidy-logging'), 'no branch was created').toBeNull();
    },
  },
  {
    id: 'request-checked-first',
    title: 'an unusable branch name, base, digest or run id is CAIRN_FORGE_REQUEST_INVALID and creates nothing',
    async run({ instance, options }) {
      const base = await options.createBase(instance, baseFiles);
      const patch = addFile('a.txt', 'a\n');
      const invalid: [string, Partial<ForgeBranchPush>][] = [
        ['a branch with ".."', { branch: 'cairn/a..b' }],
        ['a branch with a space', { branch: 'cairn/a b' }],
        ['an abbreviated base', { base: base.slice(0, 12) }],
        ['a digest that is not sha256', { evidenceDigest: 'md5:00' as `sha256:${string}` }],
        ['a run id with a line break', { runId: 'run-1\nCairn-Evidence: sha256:forged' }],
        ['an empty message', { message: '  \n' }],
      ];
      for (const [what, overrides] of invalid)
        await expectCairnError(() => instance.pushBranch(delivery(base, patch, overrides)), 'CAIRN_FORGE_REQUEST_INVALID', what);
      await expectCairnError(() => instance.readBranch('cairn/a..b'), 'CAIRN_FORGE_REQUEST_INVALID', 'readBranch of an invalid name');
      expect(await instance.readBranch('cairn/tidy-logging'), 'nothing was pushed').toBeNull();
    },
  },
  {
    id: 'change-request-once-per-branch',
    title: 'openChangeRequest opens one change request per branch: opening again returns the same id with the new title and body',
    needs: { capability: { name: 'changeRequests', declared: (forge) => forge.capabilities.changeRequests } },
    async run({ instance, options }) {
      const base = await options.createBase(instance, baseFiles);
      const pushed = await instance.pushBranch(delivery(base, addFile('a.txt', 'a\n')));
      const opened = await instance.openChangeRequest!({ branch: pushed.branch, target: 'main', title: 'Tidy the logging', body: 'First delivery.' });
      expect(opened).toMatchObject({
        branch: pushed.branch,
        target: 'main',
        title: 'Tidy the logging',
        body: 'First delivery.',
        state: 'open',
        head: pushed.commit,
      });
      expect(opened.id.length, 'an id').toBeGreaterThan(0);
      expect(() => new URL(opened.url), `url ${opened.url}`).not.toThrow();
      const updated = await instance.pushBranch(delivery(base, addFile('b.txt', 'b\n')));
      const again = await instance.openChangeRequest!({ branch: pushed.branch, target: 'main', title: 'Tidy the logging (2)', body: 'Second delivery.' });
      expect(again, 'the same change request, updated').toEqual({ ...opened, title: 'Tidy the logging (2)', body: 'Second delivery.', head: updated.commit });
      expect(await instance.readChangeRequest!(opened.id)).toEqual(again);
    },
  },
  {
    id: 'change-request-comment-and-read',
    title: 'comments are posted on a change request; an unknown id reads as null and cannot be commented on (CAIRN_NOT_FOUND)',
    needs: { capability: { name: 'changeRequests', declared: (forge) => forge.capabilities.changeRequests } },
    async run({ instance, options }) {
      const base = await options.createBase(instance, baseFiles);
      const pushed = await instance.pushBranch(delivery(base, addFile('a.txt', 'a\n')));
      const opened = await instance.openChangeRequest!({ branch: pushed.branch, target: 'main', title: 'Tidy', body: 'Body' });
      const first = await instance.commentOnChangeRequest!(opened.id, `Evidence: ${evidence}`);
      const second = await instance.commentOnChangeRequest!(opened.id, 'Verified offline.');
      expect(first.id).not.toBe(second.id);
      expect(() => new URL(first.url), `url ${first.url}`).not.toThrow();
      expect(await instance.readChangeRequest!('no-such-change-request')).toBeNull();
      await expectCairnError(
        () => instance.commentOnChangeRequest!('no-such-change-request', 'hello'),
        'CAIRN_NOT_FOUND',
        'a comment on an unknown change request',
      );
    },
  },
];
