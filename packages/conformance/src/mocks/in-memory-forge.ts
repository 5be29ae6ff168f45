import { createHash } from 'node:crypto';
import type {
  ChangeRequest,
  ChangeRequestComment,
  ChangeRequestDraft,
  ForgeBranchPush,
  ForgeBranchTip,
  ForgeCapabilities,
  ForgeV1,
  PushedBranch,
} from '@cairn/core';
import { CairnError } from '@cairn/protocol';
import { applyTextPatch } from './apply-text-patch.ts';

/** A commit as the in-memory forge keeps it. */
export interface InMemoryForgeCommit {
  readonly parents: readonly string[];
  readonly message: string;
  readonly files: ReadonlyMap<string, string>;
}

/** Where an in-memory forge keeps its repository and change requests; hand it to an oracle. */
export interface InMemoryForgeBackend {
  readonly commits: Map<string, InMemoryForgeCommit>;
  /** Branch tips by short name. */
  readonly branches: Map<string, string>;
  readonly changeRequests: Map<string, Omit<ChangeRequest, 'head'>>;
  readonly comments: Map<string, { readonly id: string; readonly body: string }[]>;
}

/** Settings of `createInMemoryForge`. */
export interface InMemoryForgeSettings {
  /** The backend; a new empty one when omitted. Share it to simulate a restart. */
  readonly backend?: InMemoryForgeBackend;
}

const commitId = /^[0-9a-f]{40}$/;
const evidenceDigest = /^sha256:[0-9a-f]{64}$/;
const trailerValue = /^\S(?:[^\u0000-\u001f\u007f]*\S)?$/;

/**
 * ForgeV1 in memory, with change requests: a repository of commits (files as text) and branches,
 * patches applied by `applyTextPatch` (text diffs only, where the real forges use git). Commit ids
 * are SHA-1 of the commit's content and a counter, so a new delivery is a new commit, as in git.
 */
export class InMemoryForge implements ForgeV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'in-memory';
  readonly capabilities: ForgeCapabilities = { changeRequests: true };
  readonly backend: InMemoryForgeBackend;
  #sequence = 0;

  constructor(settings: InMemoryForgeSettings = {}) {
    this.backend = settings.backend ?? { commits: new Map(), branches: new Map(), changeRequests: new Map(), comments: new Map() };
  }

  /** Adds a commit to the repository (as the user's history is there before delivering) and answers its id. */
  addCommit(commit: InMemoryForgeCommit): string {
    this.#sequence += 1;
    const content = JSON.stringify({
      parents: commit.parents,
      message: commit.message,
      files: [...commit.files].sort(),
      sequence: this.#sequence,
      at: Date.now(),
    });
    const id = createHash('sha1').update(content).digest('hex');
    this.backend.commits.set(id, { parents: [...commit.parents], message: commit.message, files: new Map(commit.files) });
    return id;
  }

  async pushBranch(push: ForgeBranchPush): Promise<PushedBranch> {
    checkPush(push);
    const base = this.backend.commits.get(push.base);
    if (base === undefined)
      throw new CairnError('CAIRN_FORGE_PATCH_INVALID', `[cairn] [conformance] the base commit ${push.base} is not in the in-memory forge`, { path: 'base' });
    const applied = applyTextPatch(base.files, new TextDecoder().decode(push.patch));
    if (typeof applied === 'string')
      throw new CairnError('CAIRN_FORGE_PATCH_INVALID', `[cairn] [conformance] the patch does not apply to ${push.base}: ${applied}`, { path: 'patch' });
    const message = `${push.message.trim()}\n\nCairn-Run: ${push.runId}\nCairn-Evidence: ${push.evidenceDigest}\n`;
    const tip = this.backend.branches.get(push.branch) ?? null;
    const existing = tip === null ? undefined : this.backend.commits.get(tip);
    if (tip !== null && existing !== undefined && sameDelivery(existing, [push.base], message, applied)) {
      return { branch: push.branch, commit: tip, base: push.base, previous: tip, outcome: 'unchanged' };
    }
    if (push.expectedTip !== undefined && push.expectedTip !== tip) {
      throw new CairnError('CAIRN_FORGE_CONFLICT', `[cairn] [conformance] ${push.branch} is at ${tip ?? 'nothing'}, not ${push.expectedTip ?? 'nothing'}`, {
        path: 'expectedTip',
      });
    }
    const commit = this.addCommit({ parents: [push.base], message, files: applied });
    this.backend.branches.set(push.branch, commit);
    return { branch: push.branch, commit, base: push.base, previous: tip, outcome: tip === null ? 'created' : 'updated' };
  }

  async readBranch(branch: string): Promise<ForgeBranchTip | null> {
    checkBranch(branch);
    const commit = this.backend.branches.get(branch);
    return commit === undefined ? null : { branch, commit };
  }

  async openChangeRequest(draft: ChangeRequestDraft): Promise<ChangeRequest> {
    checkBranch(draft.branch);
    if (!this.backend.branches.has(draft.branch)) {
      throw new CairnError('CAIRN_FORGE_REQUEST_INVALID', `[cairn] [conformance] no branch ${draft.branch} to open a change request from: push it first`, {
        path: 'branch',
      });
    }
    const open = [...this.backend.changeRequests.values()].find((request) => request.branch === draft.branch && request.state === 'open');
    const id = open?.id ?? String(this.backend.changeRequests.size + 1);
    this.backend.changeRequests.set(id, {
      id,
      url: `https://forge.invalid/change-requests/${id}`,
      branch: draft.branch,
      target: draft.target,
      title: draft.title,
      body: draft.body,
      state: 'open',
    });
    return (await this.readChangeRequest(id))!;
  }

  async commentOnChangeRequest(id: string, body: string): Promise<ChangeRequestComment> {
    if (!this.backend.changeRequests.has(id)) throw new CairnError('CAIRN_NOT_FOUND', `[cairn] [conformance] no change request ${id} in the in-memory forge`);
    const comments = this.backend.comments.get(id) ?? [];
    const comment = { id: `${id}-${comments.length + 1}`, body };
    this.backend.comments.set(id, [...comments, comment]);
    return { id: comment.id, url: `https://forge.invalid/change-requests/${id}#comment-${comment.id}` };
  }

  async readChangeRequest(id: string): Promise<ChangeRequest | null> {
    const request = this.backend.changeRequests.get(id);
    if (request === undefined) return null;
    return { ...request, head: this.backend.branches.get(request.branch) ?? '' };
  }
}

/** Builds an in-memory forge. */
export function createInMemoryForge(settings: InMemoryForgeSettings = {}): InMemoryForge {
  return new InMemoryForge(settings);
}

function sameDelivery(commit: InMemoryForgeCommit, parents: readonly string[], message: string, files: ReadonlyMap<string, string>): boolean {
  if (commit.message !== message || commit.parents.join(' ') !== parents.join(' ') || commit.files.size !== files.size) return false;
  return [...files].every(([path, text]) => commit.files.get(path) === text);
}

function invalid(field: string, message: string): CairnError {
  return new CairnError('CAIRN_FORGE_REQUEST_INVALID', `[cairn] [conformance] the push's "${field}" ${message}`, { path: field });
}

function checkPush(push: ForgeBranchPush): void {
  checkBranch(push.branch);
  if (!commitId.test(push.base)) throw invalid('base', 'must be a full commit id');
  if (push.message.trim() === '') throw invalid('message', 'must have a subject line');
  if (!trailerValue.test(push.runId)) throw invalid('runId', 'must be one printable line');
  if (!evidenceDigest.test(push.evidenceDigest)) throw invalid('evidenceDigest', 'must be sha256: and 64 hex digits');
  if (push.expectedTip !== undefined && push.expectedTip !== null && !commitId.test(push.expectedTip))
    throw invalid('expectedTip', 'must be a full commit id or null');
}

/** git's rules for a branch name (`git check-ref-format`), the ones a delivery can break. */
function checkBranch(branch: string): void {
  const broken =
    branch === '' ||
    branch === 'HEAD' ||
    branch.startsWith('-') ||
    /[\u0000-\u0020\u007f~^:?*[\\]|\.\.|@\{|\/\/|\/$|^\/|\.lock(\/|$)|(^|\/)\.|\.$/.test(branch);
  if (broken) throw invalid('branch', `"${branch}" is not a branch name git accepts`);
}
