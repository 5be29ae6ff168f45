import { CairnError, isCairnError, type CairnErrorCode } from '@cairn/protocol';

/** What Octokit's RequestError carries that the mapping reads (its `request` headers are redacted). */
interface GitHubRequestError {
  readonly status?: number;
  readonly message?: string;
  readonly response?: { readonly headers?: Record<string, string | number | undefined>; readonly data?: unknown };
}

/**
 * The CairnError for a failed GitHub API call, by status: 401 and 403 are CAIRN_FORGE_UNAUTHORIZED
 * (bad or expired credentials, or a permission the token or app lacks), except a 403 or 429 that
 * is a rate limit, which is CAIRN_FORGE_UNAVAILABLE like a 5xx or no answer at all (retrying later
 * may succeed); a 404 of the repository is UNAUTHORIZED too, since GitHub hides a repository the
 * credential cannot see behind 404 (ADR 0037); 409 is CAIRN_FORGE_CONFLICT; 422 and other 4xx are
 * CAIRN_FORGE_REQUEST_INVALID with GitHub's own validation messages. The message quotes GitHub's
 * answer and never a credential (GitHub does not echo them, and the request is not quoted).
 */
export function gitHubApiFailure(error: unknown, repository: string, what: string): CairnError {
  if (isCairnError(error)) return error;
  const failure = (typeof error === 'object' && error !== null ? error : {}) as GitHubRequestError;
  const status = typeof failure.status === 'number' && failure.status >= 400 ? failure.status : undefined;
  const said = gitHubMessage(failure);
  const details = { repository, ...(status === undefined ? {} : { status }), github: said };
  const make = (code: CairnErrorCode, message: string): CairnError => new CairnError(code, `[cairn] [github-forge] ${message}`, { details, cause: error });
  if (status === undefined || status >= 500 || status === 429 || (status === 403 && rateLimited(failure))) {
    return make(
      'CAIRN_FORGE_UNAVAILABLE',
      `GitHub could not be reached or failed while ${what} in ${repository}; retry later (${status ?? 'no answer'}: ${said})`,
    );
  }
  if (status === 401 || status === 403) {
    return make(
      'CAIRN_FORGE_UNAUTHORIZED',
      `GitHub refused the credentials while ${what} in ${repository} (${status}: ${said}): check github-forge.token or github-forge.app, and that it may write contents, pull requests and issues of the repository`,
    );
  }
  if (status === 404) {
    return make(
      'CAIRN_FORGE_UNAUTHORIZED',
      `GitHub has no repository ${repository} that these credentials can see (${what}: 404 ${said}): check github-forge.repository, and that the token or the app's installation has access to it`,
    );
  }
  if (status === 409)
    return make('CAIRN_FORGE_CONFLICT', `GitHub refused ${what} in ${repository} as a conflict (409: ${said}); read the current state and try again`);
  return make('CAIRN_FORGE_REQUEST_INVALID', `GitHub refused ${what} in ${repository} (${status}: ${said})`);
}

/** GitHub's `message`, with the `errors[]` of a 422 (`A pull request already exists for o:b.`). */
export function gitHubMessage(failure: GitHubRequestError): string {
  const data = failure.response?.data;
  if (typeof data === 'object' && data !== null) {
    const { message, errors } = data as { message?: unknown; errors?: unknown };
    const listed = Array.isArray(errors)
      ? errors.map((item: unknown) =>
          typeof item === 'string'
            ? item
            : typeof item === 'object' && item !== null
              ? String((item as { message?: unknown }).message ?? `${String((item as { field?: unknown }).field)} ${String((item as { code?: unknown }).code)}`)
              : String(item),
        )
      : [];
    if (typeof message === 'string') return listed.length === 0 ? message : `${message}: ${listed.join('; ')}`;
  }
  return failure.message ?? 'no message';
}

function rateLimited(failure: GitHubRequestError): boolean {
  const headers = failure.response?.headers ?? {};
  return String(headers['x-ratelimit-remaining']) === '0' || headers['retry-after'] !== undefined || /rate limit/i.test(gitHubMessage(failure));
}
