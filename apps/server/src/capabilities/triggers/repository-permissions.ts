import type { GitHubRepositoryPermission } from '@cairn/github-forge';
import { CairnError, isCairnError, parseSettings } from '@cairn/protocol';

/** The permissions that may start a run: those that may push to the repository (GitHub's maintain counts as write). */
export const permissionsAllowedToRun: readonly GitHubRepositoryPermission[] = ['admin', 'write'];

/** What the trigger asks of GitHub before it runs anything a person asked for. */
export interface RepositoryPermissions {
  /** `login`'s permission on `repository` (`owner/name`): `admin`, `write`, `read` or `none`. */
  readPermission(repository: string, login: string): Promise<GitHubRepositoryPermission>;
}

/**
 * The permissions as `@cairn/github-forge` reads them (`GitHubForge.readPermission`: GitHub's
 * collaborator permission endpoint; a user it does not know has `none`), on the repository each
 * delivery names, through `apiUrl` with the token read from its secret for each delivery (a
 * secret set or changed since the start is used). The package is imported when a delivery first
 * asks. Its refusal of the token names the option that holds it.
 */
export function forgePermissions(options: { readonly apiUrl: string; readonly token: () => Promise<string> }): RepositoryPermissions {
  return {
    async readPermission(repository, login) {
      const { createGitHubForge, gitHubForgeSettingsSchema } = await import('@cairn/github-forge');
      // Checked under the trigger's option path: an apiUrl the forge refuses is named as the config spells it.
      const settings = parseSettings(
        gitHubForgeSettingsSchema,
        { repository, token: await options.token(), apiUrl: options.apiUrl, requestTimeoutSeconds: 10 },
        'config.triggers.github',
      );
      try {
        return await createGitHubForge(settings).readPermission(login);
      } catch (error) {
        if (!isCairnError(error, 'CAIRN_FORGE_UNAUTHORIZED')) throw error;
        throw new CairnError('CAIRN_FORGE_UNAUTHORIZED', error.message, {
          details: error.details,
          cause: error,
          action: "Check that config.triggers.github.tokenSecret names a secret holding a token that may read the repository's collaborators.",
        });
      }
    },
  };
}
