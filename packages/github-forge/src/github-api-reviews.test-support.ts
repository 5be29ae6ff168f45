import { githubUser } from './github-objects.test-support.ts';

/** A review as a test writes it: who, its state (`COMMENTED`, `CHANGES_REQUESTED`, `APPROVED`), its body and line comments. */
export interface TestReview {
  readonly login: string;
  readonly state: string;
  readonly body: string;
  readonly comments: readonly { readonly path: string; readonly line: number; readonly body: string; readonly diffHunk: string }[];
}

/** A review as the test endpoint keeps it: the ids GitHub gave it and its comments, its pull request, when submitted. */
export interface StoredReview extends TestReview {
  readonly id: number;
  readonly pull: number;
  readonly commentIds: readonly number[];
  readonly submitted: string;
}

/** Where a review is: the endpoint's address, the repository, the pull request and its head commit. */
interface ReviewAt {
  readonly url: string;
  readonly repository: string;
  readonly pull: number;
  readonly headSha: string;
}

/** `GET /repos/{o}/{r}/pulls/{n}/reviews/{id}`'s answer (GitHub's `pull-request-review`). */
export function reviewJson(at: ReviewAt, review: StoredReview): Record<string, unknown> {
  const html = `${at.url}/${at.repository}/pull/${at.pull}#pullrequestreview-${review.id}`;
  return {
    id: review.id,
    node_id: `PRR_${review.id}`,
    user: githubUser(review.login),
    body: review.body,
    state: review.state,
    html_url: html,
    pull_request_url: `${at.url}/repos/${at.repository}/pulls/${at.pull}`,
    submitted_at: review.submitted,
    commit_id: at.headSha,
    author_association: 'COLLABORATOR',
    _links: { html: { href: html }, pull_request: { href: `${at.url}/repos/${at.repository}/pulls/${at.pull}` } },
  };
}

/** `GET /repos/{o}/{r}/pulls/{n}/reviews/{id}/comments`'s answer (GitHub's `review-comment`s). */
export function reviewCommentsJson(at: ReviewAt, review: StoredReview): Record<string, unknown>[] {
  return review.comments.map((comment, index) => {
    const id = review.commentIds[index]!;
    const self = `${at.url}/repos/${at.repository}/pulls/comments/${id}`;
    const html = `${at.url}/${at.repository}/pull/${at.pull}#discussion_r${id}`;
    return {
      id,
      node_id: `PRRC_${id}`,
      pull_request_review_id: review.id,
      url: self,
      html_url: html,
      pull_request_url: `${at.url}/repos/${at.repository}/pulls/${at.pull}`,
      diff_hunk: comment.diffHunk,
      path: comment.path,
      line: comment.line,
      original_line: comment.line,
      side: 'RIGHT',
      position: 1,
      original_position: 1,
      commit_id: at.headSha,
      original_commit_id: at.headSha,
      user: githubUser(review.login),
      body: comment.body,
      created_at: review.submitted,
      updated_at: review.submitted,
      author_association: 'COLLABORATOR',
      _links: { self: { href: self }, html: { href: html }, pull_request: { href: `${at.url}/repos/${at.repository}/pulls/${at.pull}` } },
    };
  });
}
