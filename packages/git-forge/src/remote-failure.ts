import type { GitRunResult } from '@cairn/protocol/workspace';
import { CairnError } from '@cairn/protocol';

/** git's words for a refused credential (HTTP 401/403, or no credential where one is needed). */
const refusedCredentials = /Authentication failed|could not read (Username|Password)|returned error: 40[13]|Permission denied|Invalid username or password/i;
/** git's words for a repository that is not there, or that the credential cannot see (forges answer 404 for both). */
const missingRepository = /Repository not found|does not appear to be a git repository|returned error: 404|not found/i;

/**
 * The CairnError for a git command that talked to the remote and failed: refused credentials are
 * CAIRN_FORGE_UNAUTHORIZED, a repository that is not there (or hidden from the credential) too,
 * since retrying cannot help; anything else (unreachable host, 5xx, a stalled transfer) is
 * CAIRN_FORGE_UNAVAILABLE. git's own message is quoted: its remote URL never carries the token.
 */
export function remoteFailure(remote: string, what: string, result: GitRunResult): CairnError {
  const said = result.stderr || `exit ${result.exitCode}`;
  const details = { remote, exitCode: result.exitCode, git: said };
  if (refusedCredentials.test(said)) {
    return new CairnError(
      'CAIRN_FORGE_UNAUTHORIZED',
      `[cairn] [git-forge] ${remote} refused the credentials while ${what}: check the token and the username in git-forge's settings, and that the token may push to the repository (git said: ${said})`,
      { details },
    );
  }
  if (missingRepository.test(said)) {
    return new CairnError(
      'CAIRN_FORGE_UNAUTHORIZED',
      `[cairn] [git-forge] ${remote} has no repository that these credentials can reach (${what}): check git-forge.remote, and that the token may see the repository (git said: ${said})`,
      { details },
    );
  }
  return new CairnError(
    'CAIRN_FORGE_UNAVAILABLE',
    `[cairn] [git-forge] ${remote} could not be reached or failed while ${what}; retry later (git said: ${said})`,
    {
      details,
    },
  );
}
