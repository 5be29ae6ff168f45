import type { Digest } from '../model/digest.ts';

/** What a forge can do beyond pushing branches. */
export interface ForgeCapabilities {
  /**
   * The forge has change requests (GitHub pull requests, GitLab merge requests):
   * `openChangeRequest`, `commentOnChangeRequest` and `readChangeRequest` are present exactly when
   * this is true. A plain git remote has none; callers check this flag, never the methods.
   */
  readonly changeRequests: boolean;
  /**
   * The forge hands a host that runs git itself (a server fetching a run's workspace) its
   * repository's remote and credential: `gitAccess` is present exactly when this is true. Absent
   * means false, as for an implementation written before it; callers check this flag, never the
   * method.
   */
  readonly gitAccess?: boolean;
}

/** Where git reaches a forge's repository, and the credential it reaches it with (`ForgeV1.gitAccess`). */
export interface ForgeGitAccess {
  /** The repository's remote URL, never with a credential in it. */
  readonly remote: string;
  /** The basic-auth user name sent with the token. */
  readonly username: string;
  /**
   * git's password: a secret. Hand it to git through a credential helper, never in a URL, a
   * command line, a log or an error.
   */
  readonly token: string;
}

/** A branch to deliver: one commit on `base` that applies `patch`, pushed as `branch`. */
export interface ForgeBranchPush {
  /** The branch's short name (`cairn/tidy-logging`), valid for `git check-ref-format --branch`. */
  readonly branch: string;
  /** The full commit id (40 or 64 hex digits) the patch applies to; it must exist on the forge. */
  readonly base: string;
  /** `git diff --binary` against `base` (what the worker captures); empty for an empty commit. */
  readonly patch: Uint8Array;
  /** The commit message (subject, blank line, body); the forge appends the Cairn trailers. */
  readonly message: string;
  /** The run that produced the patch: the commit's `Cairn-Run: <runId>` trailer. */
  readonly runId: string;
  /** The digest of the run's evidence bundle: the commit's `Cairn-Evidence: <digest>` trailer. */
  readonly evidenceDigest: Digest;
  /**
   * The commit the caller last pushed to `branch` (a previous push's `commit`), or `null` when it
   * expects the branch not to exist. The push replaces the branch only while it still points
   * there (force-with-lease), so a commit someone else pushed since is never thrown away. When
   * omitted, the forge leases against the tip it reads during this call: it protects against a
   * concurrent push, not against commits pushed since the caller's last delivery.
   */
  readonly expectedTip?: string | null;
}

/** What a push did. */
export interface PushedBranch {
  readonly branch: string;
  /** The commit at the branch's tip now: the one built from base, patch, message and trailers. */
  readonly commit: string;
  readonly base: string;
  /** The tip the push replaced; `null` when it created the branch (and for `unchanged`, the tip itself). */
  readonly previous: string | null;
  /**
   * `created`: the branch did not exist. `updated`: it pointed elsewhere and was moved (the old
   * tip is `previous`). `unchanged`: its tip already was this delivery (same base, tree, message
   * and trailers), so nothing was pushed: a retry after a lost answer lands here.
   */
  readonly outcome: 'created' | 'updated' | 'unchanged';
}

/** The tip of a branch on the forge. */
export interface ForgeBranchTip {
  readonly branch: string;
  readonly commit: string;
}

/** A change request to open, or to update when one is already open for `branch`. */
export interface ChangeRequestDraft {
  /** The pushed branch it proposes (the head). */
  readonly branch: string;
  /** The branch it proposes to change (`main`). */
  readonly target: string;
  readonly title: string;
  /** Markdown body. */
  readonly body: string;
}

export type ChangeRequestState = 'open' | 'closed' | 'merged';

/** A change request as the forge holds it. */
export interface ChangeRequest {
  /** The forge's own id (a pull request number as text), stable for the request's life. */
  readonly id: string;
  /** Where a person reviews it. */
  readonly url: string;
  readonly branch: string;
  readonly target: string;
  readonly title: string;
  readonly body: string;
  readonly state: ChangeRequestState;
  /** The commit at the head of its branch as the forge last saw it. */
  readonly head: string;
}

/** A posted comment. */
export interface ChangeRequestComment {
  readonly id: string;
  readonly url: string;
}

/**
 * Delivers a run's patch where people review code: a branch on a git remote, and on forges that
 * have them a change request (pull request) over it.
 *
 * Guarantees:
 * - `pushBranch` is idempotent by branch name: delivering again updates the same branch (one
 *   commit on `base`, never a stack of commits) and, when the branch already holds exactly this
 *   delivery (same base, tree, message and trailers), pushes nothing and answers `unchanged`
 *   with that commit, whatever `expectedTip` says: a retry after a lost answer succeeds.
 * - The commit's message ends with the trailers `Cairn-Run: <runId>` and
 *   `Cairn-Evidence: <evidenceDigest>` (git trailer format, `git interpret-trailers` reads them).
 * - A branch is moved only from the tip the forge leased (`expectedTip`, or the tip it read);
 *   when it points elsewhere the push is refused with CAIRN_FORGE_CONFLICT and changes nothing.
 * - `readBranch` answers `null` for a branch that does not exist, never throws for it.
 * - `openChangeRequest` is idempotent by branch: while a change request from `branch` is open it
 *   returns that one, with its title and body updated to the draft's, instead of opening another.
 * - `readChangeRequest` answers `null` for an id the forge does not know.
 * - `commentOnChangeRequest` is at-least-once: a retry after a lost answer may post twice.
 *
 * Errors (rejected promises): CAIRN_FORGE_REQUEST_INVALID (a branch name, commit id, digest or
 * run id that cannot be used, before any network call); CAIRN_FORGE_PATCH_INVALID (the base is not
 * on the forge, or the patch does not apply to it); CAIRN_FORGE_CONFLICT (the branch moved);
 * CAIRN_FORGE_UNAUTHORIZED (the forge refused the credentials or their permissions);
 * CAIRN_FORGE_UNAVAILABLE (it could not be reached or failed; retrying later may succeed);
 * CAIRN_NOT_FOUND (a comment on a change request the forge does not know). No credential ever
 * appears in an error, a log line or a result.
 *
 * How to implement: build the commit yourself from base, patch and message (the worker's patch
 * is `git diff --binary`, so `git apply` it to the base's tree), compare it with the branch's tip
 * before pushing, push with a lease, map the forge's answers to the codes above (the original as
 * `cause`), and run `describeForge` from `@cairn/conformance` with an oracle that reads the
 * remote without going through your forge.
 */
export interface ForgeV1 {
  readonly specificationVersion: 'v1';
  /** Short name of the implementation (`git`, `github`). */
  readonly provider: string;
  readonly capabilities: ForgeCapabilities;
  pushBranch(push: ForgeBranchPush): Promise<PushedBranch>;
  readBranch(branch: string): Promise<ForgeBranchTip | null>;
  /** Present exactly when `capabilities.changeRequests`. */
  openChangeRequest?(draft: ChangeRequestDraft): Promise<ChangeRequest>;
  /** Present exactly when `capabilities.changeRequests`. Markdown body. */
  commentOnChangeRequest?(id: string, body: string): Promise<ChangeRequestComment>;
  /** Present exactly when `capabilities.changeRequests`. */
  readChangeRequest?(id: string): Promise<ChangeRequest | null>;
  /**
   * Present exactly when `capabilities.gitAccess`. Where git reaches the repository and the
   * credential it reaches it with now (a token that expires, such as a GitHub App's installation
   * token, is renewed first). Calling it changes nothing on the forge. A credential the forge
   * cannot have is CAIRN_FORGE_UNAUTHORIZED (refused) or CAIRN_FORGE_UNAVAILABLE (retrying later
   * may succeed).
   */
  gitAccess?(): Promise<ForgeGitAccess>;
}
