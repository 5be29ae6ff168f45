import type { ForgeBranchPush } from '@cairn/core';
import { CairnError } from '@cairn/protocol';

const commitId = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const evidenceDigest = /^sha256:[0-9a-f]{64}$/;
/** Printable, one line, no leading or trailing space: what a trailer value can hold unchanged. */
const trailerValue = /^\S(?:[^\u0000-\u001f\u007f]*\S)?$/;

/**
 * git's rules for a ref name (`git check-ref-format`): no control characters, space, `~ ^ : ? * [ \`,
 * `..`, `@{`, empty component, component starting with `.` or ending with `.lock`, trailing `.` or
 * `/`; and, for a branch we push, not `HEAD`, `@` or starting with `-`.
 */
const brokenBranchName = /[\u0000-\u0020\u007f~^:?*[\\]|\.\.|@\{|\/\/|^\/|\/$|\.lock(?:\/|$)|(?:^|\/)\.|\.$|^-|^(?:HEAD|@)$/;

/** Throws CAIRN_FORGE_REQUEST_INVALID unless `branch` is a branch name git accepts. */
export function assertBranchName(branch: string): void {
  if (typeof branch === 'string' && branch !== '' && !brokenBranchName.test(branch)) return;
  throw new CairnError(
    'CAIRN_FORGE_REQUEST_INVALID',
    `[cairn] [git-forge] "${String(branch)}" is not a branch name git accepts (git check-ref-format: no spaces, "..", "~", "^", ":", "\\", "@{", a leading "-" or ".", a trailing "/" or ".lock"); nothing was sent to the forge`,
    { path: 'branch' },
  );
}

/** Checks a push before anything reaches git or the network, throwing CAIRN_FORGE_REQUEST_INVALID naming the field. */
export function assertPushRequest(push: ForgeBranchPush): void {
  assertBranchName(push.branch);
  const problem = pushRequestProblem(push);
  if (problem !== undefined) {
    throw new CairnError('CAIRN_FORGE_REQUEST_INVALID', `[cairn] [git-forge] the push's "${problem.field}" ${problem.message}; nothing was sent to the forge`, {
      path: problem.field,
    });
  }
}

function pushRequestProblem(push: ForgeBranchPush): { field: string; message: string } | undefined {
  if (typeof push.base !== 'string' || !commitId.test(push.base)) return { field: 'base', message: 'must be a full commit id (40 or 64 lowercase hex digits)' };
  if (!(push.patch instanceof Uint8Array)) return { field: 'patch', message: 'must be bytes (a Uint8Array of `git diff --binary`)' };
  if (typeof push.message !== 'string' || push.message.trim() === '') return { field: 'message', message: 'must have a subject line' };
  if (typeof push.runId !== 'string' || !trailerValue.test(push.runId))
    return { field: 'runId', message: 'must be one printable line (it is the Cairn-Run trailer)' };
  if (typeof push.evidenceDigest !== 'string' || !evidenceDigest.test(push.evidenceDigest)) {
    return { field: 'evidenceDigest', message: 'must be sha256: and 64 lowercase hex digits (it is the Cairn-Evidence trailer)' };
  }
  if (push.expectedTip !== undefined && push.expectedTip !== null && !commitId.test(push.expectedTip)) {
    return { field: 'expectedTip', message: 'must be a full commit id, or null for a branch expected not to exist' };
  }
  return undefined;
}
