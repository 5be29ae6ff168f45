import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ForgeBranchPush, ForgeBranchTip, ForgeCapabilities, ForgeV1, PushedBranch } from '@cairn/core';
import { CairnError, parseSettings } from '@cairn/protocol';
import { gitOutput, runGit, type GitLocation } from '@cairn/protocol/workspace';
import type { z } from 'zod';
import { assertBranchName, assertPushRequest } from './assert-push-request.ts';
import { withCairnTrailers } from './cairn-trailers.ts';
import { gitForgeSettingsSchema, type GitForgeSettings } from './git-forge-settings.ts';
import { GitRemote } from './git-remote.ts';
import { remoteFailure } from './remote-failure.ts';

/**
 * ForgeV1 over any git remote (HTTPS with a token, plain HTTP on loopback, or a local path), with
 * the real `git` binary: no change requests (`capabilities.changeRequests` is false, and the
 * change-request methods are absent).
 *
 * A push works in a scratch repository of its own, removed afterwards: it reads the branch's tip
 * (`ls-remote`), fetches the base and that tip (one level deep), applies the patch to the base's
 * tree in an index (`git apply --cached`, no work tree), writes one commit whose message ends with
 * the `Cairn-Run` and `Cairn-Evidence` trailers (`git interpret-trailers`), and pushes it with
 * `--force-with-lease` against the tip it leased. When the tip already is this delivery (same
 * tree, parent and message) it pushes nothing and answers `unchanged`.
 */
export class GitForge implements ForgeV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'git';
  readonly capabilities: ForgeCapabilities = { changeRequests: false };
  readonly settings: Readonly<z.output<typeof gitForgeSettingsSchema>>;
  readonly #remote: GitRemote;

  constructor(settings: GitForgeSettings) {
    this.settings = parseSettings(gitForgeSettingsSchema, settings, 'git-forge');
    this.#remote = new GitRemote(this.settings);
  }

  /** How messages and logs name the remote (never with a credential). */
  get remote(): string {
    return this.#remote.name;
  }

  async readBranch(branch: string): Promise<ForgeBranchTip | null> {
    assertBranchName(branch);
    const commit = await this.#readTip({ cwd: tmpdir() }, branch);
    return commit === null ? null : { branch, commit };
  }

  async pushBranch(push: ForgeBranchPush): Promise<PushedBranch> {
    assertPushRequest(push);
    const scratch = await mkdtemp(join(tmpdir(), 'cairn-git-forge-'));
    try {
      return await this.#push(scratch, push);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }

  async #push(scratch: string, push: ForgeBranchPush): Promise<PushedBranch> {
    const git: GitLocation = { cwd: scratch };
    const format = push.base.length === 64 ? 'sha256' : 'sha1';
    await gitOutput(git, ['init', '--quiet', '--bare', `--object-format=${format}`, '--template=', '.']);
    const tip = await this.#readTip(git, push.branch);
    await this.#fetch(git, push.base, tip);

    const commit = await this.#commit(git, push);
    if (tip !== null && (await sameDelivery(git, tip, commit))) {
      return { branch: push.branch, commit: tip, base: push.base, previous: tip, outcome: 'unchanged' };
    }
    if (push.expectedTip !== undefined && push.expectedTip !== tip) throw this.#conflict(push, tip);
    const lease = push.expectedTip === undefined ? tip : push.expectedTip;
    const ref = `refs/heads/${push.branch}`;
    const pushed = await this.#remote.run(git, [
      'push',
      '--porcelain',
      '--no-verify',
      `--force-with-lease=${ref}:${lease ?? ''}`,
      this.#remote.url,
      `${commit}:${ref}`,
    ]);
    const status = pushed.stdout
      .toString('utf8')
      .split('\n')
      .find((line) => line.includes(`:${ref}\t`));
    if (pushed.exitCode !== 0) {
      // A refused ref update is reported on stdout (porcelain) with a reason in brackets.
      if (status?.startsWith('!')) {
        // Refused by the client's lease check (`stale info`), or by the server's compare-and-swap of
        // the ref when it moved after the advertisement (`cannot lock ref ... but expected`).
        if (staleLease.test(`${status}\n${pushed.stderr}`)) throw this.#conflict(push, 'another commit (it moved during the push)');
        throw new CairnError(
          'CAIRN_FORGE_UNAUTHORIZED',
          `[cairn] [git-forge] ${this.remote} refused the update of ${push.branch}: ${status.split('\t').slice(2).join(' ')} (a protected branch, or a hook that declined it) ${pushed.stderr}`.trim(),
          { details: { remote: this.remote, branch: push.branch, git: pushed.stderr } },
        );
      }
      throw remoteFailure(this.remote, `pushing ${push.branch}`, pushed);
    }
    return { branch: push.branch, commit, base: push.base, previous: tip, outcome: tip === null ? 'created' : 'updated' };
  }

  /** The branch's tip on the remote, or null when it has none. */
  async #readTip(git: GitLocation, branch: string): Promise<string | null> {
    const ref = `refs/heads/${branch}`;
    const listed = await this.#remote.run(git, ['ls-remote', '--refs', this.#remote.url, ref]);
    if (listed.exitCode !== 0) throw remoteFailure(this.remote, `reading ${branch}`, listed);
    const line = listed.stdout
      .toString('utf8')
      .split('\n')
      .find((candidate) => candidate.endsWith(`\t${ref}`));
    return line === undefined ? null : line.slice(0, line.indexOf('\t'));
  }

  /** Fetches the base and the branch's tip (one level deep: only their trees are needed). */
  async #fetch(git: GitLocation, base: string, tip: string | null): Promise<void> {
    const wanted = tip === null || tip === base ? [base] : [base, tip];
    const fetched = await this.#remote.run(git, ['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', '--depth=1', this.#remote.url, ...wanted]);
    if (fetched.exitCode === 0) return;
    if (/not our ref|couldn't find remote ref|no such remote ref|unadvertised object|upload-pack: not/i.test(fetched.stderr)) {
      throw new CairnError(
        'CAIRN_FORGE_PATCH_INVALID',
        `[cairn] [git-forge] the base commit ${base} is not on ${this.remote}: push it (the branch the run started from) before delivering a patch on it (git said: ${fetched.stderr})`,
        { path: 'base', details: { remote: this.remote, base, git: fetched.stderr } },
      );
    }
    throw remoteFailure(this.remote, `fetching ${base}`, fetched);
  }

  /** Writes the delivery's commit: the patch applied to the base's tree, the message with the trailers. */
  async #commit(git: GitLocation, push: ForgeBranchPush): Promise<string> {
    await gitOutput(git, ['read-tree', push.base]);
    if (push.patch.byteLength > 0) {
      const applied = await runGit(git, ['apply', '--cached', '--binary', '--whitespace=nowarn', '-'], { input: push.patch });
      if (applied.exitCode !== 0) {
        throw new CairnError(
          'CAIRN_FORGE_PATCH_INVALID',
          `[cairn] [git-forge] the patch for ${push.branch} does not apply to its base ${push.base}: ${applied.stderr || 'git apply refused it'}`,
          { path: 'patch', details: { base: push.base, git: applied.stderr } },
        );
      }
    }
    const tree = (await gitOutput(git, ['write-tree'])).toString('utf8').trim();
    const message = Buffer.from(withCairnTrailers(push.message, push.runId, push.evidenceDigest), 'utf8');
    const { name, email } = this.settings.author;
    const now = `@${Math.floor(Date.now() / 1000)} +0000`;
    const env = {
      GIT_AUTHOR_NAME: name,
      GIT_AUTHOR_EMAIL: email,
      GIT_AUTHOR_DATE: now,
      GIT_COMMITTER_NAME: name,
      GIT_COMMITTER_EMAIL: email,
      GIT_COMMITTER_DATE: now,
    };
    return (await gitOutput(git, ['commit-tree', tree, '-p', push.base, '-F', '-'], { input: message, env })).toString('utf8').trim();
  }

  #conflict(push: ForgeBranchPush, found: string | null): CairnError {
    const expected = push.expectedTip === undefined ? 'the tip read at the start of the push' : (push.expectedTip ?? 'no branch');
    return new CairnError(
      'CAIRN_FORGE_CONFLICT',
      `[cairn] [git-forge] ${push.branch} on ${this.remote} is at ${found ?? 'nothing (no such branch)'}, not ${expected}: it was left as it is. Deliver again with expectedTip set to its current tip to replace it, or to another branch.`,
      { path: 'expectedTip', details: { remote: this.remote, branch: push.branch, expected, found } },
    );
  }
}

/** Builds a git forge; the settings are checked here (CAIRN_CONFIG_INVALID naming `git-forge.<option>`). */
export function createGitForge(settings: GitForgeSettings): GitForge {
  return new GitForge(settings);
}

/** How git and forges word a ref update refused because the ref is not where the push expected. */
const staleLease = /stale info|fetch first|non-fast-forward|cannot lock ref|but expected|reference already exists|failed to update ref/;

/**
 * Whether `existing` is already the delivery `built`: same tree, same parents (the base) and the
 * same message with its trailers. Author and dates differ between deliveries and do not count.
 */
async function sameDelivery(git: GitLocation, existing: string, built: string): Promise<boolean> {
  const read = await runGit(git, ['cat-file', '--batch'], { input: Buffer.from(`${existing}\n${built}\n`) });
  if (read.exitCode !== 0) return false;
  const [left, right] = readCommits(read.stdout);
  return left !== undefined && right !== undefined && left.tree === right.tree && left.parents === right.parents && left.message === right.message;
}

/** The commits in `git cat-file --batch` output (`<id> commit <size>\n<bytes>\n` each; missing ones skipped). */
function readCommits(output: Buffer): { tree: string; parents: string; message: string }[] {
  const commits: { tree: string; parents: string; message: string }[] = [];
  let offset = 0;
  while (offset < output.length) {
    const headerEnd = output.indexOf(0x0a, offset);
    if (headerEnd === -1) break;
    const [, type, size] = output.subarray(offset, headerEnd).toString('utf8').split(' ');
    if (type !== 'commit') {
      offset = headerEnd + 1;
      continue;
    }
    const text = output.subarray(headerEnd + 1, headerEnd + 1 + Number(size)).toString('utf8');
    offset = headerEnd + 1 + Number(size) + 1;
    const split = text.indexOf('\n\n');
    const headers = (split === -1 ? text : text.slice(0, split)).split('\n');
    commits.push({
      tree: headers.find((line) => line.startsWith('tree '))?.slice(5) ?? '',
      parents: headers
        .filter((line) => line.startsWith('parent '))
        .map((line) => line.slice(7))
        .join(' '),
      message: split === -1 ? '' : text.slice(split + 2),
    });
  }
  return commits;
}
