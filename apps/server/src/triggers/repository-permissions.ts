import { CairnError } from '@cairn/protocol';

/** A person's access to a repository, as GitHub names it (`role_name`), or `none`. */
export type RepositoryRole = 'admin' | 'maintain' | 'write' | 'triage' | 'read' | 'none';

/** The roles that may start a run: those that may push to the repository. */
export const rolesAllowedToRun: readonly RepositoryRole[] = ['admin', 'maintain', 'write'];

/** What the trigger asks of a forge before it runs anything a person asked for. */
export interface RepositoryPermissions {
  /** `login`'s role on `repository` (`owner/name`). */
  roleOf(repository: string, login: string): Promise<RepositoryRole>;
}

/**
 * GitHub's answer through its REST API: `GET /repos/{owner}/{repo}/collaborators/{user}/permission`
 * with a token that may read the repository's collaborators. GitHub answers 404 for a user who is
 * not a collaborator at all (no access: `none`); any other failure is an error, never a permission.
 */
export class GithubRepositoryPermissions implements RepositoryPermissions {
  readonly #apiUrl: string;
  readonly #token: () => Promise<string>;
  readonly #timeoutMs: number;

  constructor(options: { readonly apiUrl: string; readonly token: () => Promise<string>; readonly timeoutMs?: number }) {
    this.#apiUrl = options.apiUrl.replace(/\/+$/, '');
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  async roleOf(repository: string, login: string): Promise<RepositoryRole> {
    const [owner, name] = repository.split('/');
    const url = `${this.#apiUrl}/repos/${encodeURIComponent(owner ?? '')}/${encodeURIComponent(name ?? '')}/collaborators/${encodeURIComponent(login)}/permission`;
    let response: Response;
    try {
      response = await fetch(url, {
        headers: { accept: 'application/vnd.github+json', authorization: `Bearer ${await this.#token()}`, 'x-github-api-version': '2022-11-28' },
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      throw new CairnError(
        'CAIRN_FORGE_UNAVAILABLE',
        `Cannot ask GitHub (${this.#apiUrl}) for ${login}'s permission on ${repository}: ${(error as Error).message}.`,
        {
          cause: error,
        },
      );
    }
    if (response.status === 404) return 'none';
    if (!response.ok)
      throw new CairnError(
        response.status === 401 || response.status === 403 ? 'CAIRN_FORGE_UNAUTHORIZED' : 'CAIRN_FORGE_UNAVAILABLE',
        `GitHub (${this.#apiUrl}) answered ${response.status} when asked for ${login}'s permission on ${repository}: check that triggers.github.tokenSecret holds a token that may read the repository's collaborators.`,
      );
    const answer = (await response.json()) as { permission?: unknown; role_name?: unknown };
    // role_name tells maintain from write and triage from read; permission is the older, coarser answer.
    const role = typeof answer.role_name === 'string' ? answer.role_name : answer.permission;
    return (['admin', 'maintain', 'write', 'triage', 'read'] as const).find((known) => known === role) ?? 'none';
  }
}
