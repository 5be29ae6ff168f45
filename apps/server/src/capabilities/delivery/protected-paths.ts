import { CairnError } from '@cairn/protocol';
import { patchPaths } from './patch-paths.ts';

/**
 * The paths a forge runs as configuration, protected unless a forge's `protectedPaths.paths` says
 * otherwise: a patch changing them changes what the forge executes (its CI, with the repository's
 * secrets), which a reviewer must see before merging, never find out after.
 */
export const defaultProtectedPaths: readonly string[] = [
  // GitHub Actions: workflows and the local actions they call.
  '.github/workflows/**',
  '.github/actions/**',
  // GitLab CI, and the files it includes by convention.
  '.gitlab-ci.yml',
  '.gitlab/**',
  '.circleci/**',
  'Jenkinsfile',
  '.buildkite/**',
  'azure-pipelines.yml',
  'azure-pipelines.yaml',
  '.azure-pipelines/**',
  'bitbucket-pipelines.yml',
  '.travis.yml',
  '.drone.yml',
  '.woodpecker.yml',
  '.woodpecker/**',
];

/** What a delivery does with a patch touching a protected path: says so (`flag`) or refuses it (`refuse`). */
export type ProtectedPathsAction = 'flag' | 'refuse';

/** A forge's protected paths, its config's or the defaults. */
export interface ProtectedPaths {
  readonly paths: readonly string[];
  readonly action: ProtectedPathsAction;
}

/** `forges.NAME.protectedPaths` with the defaults filled in: every default path, flagged. */
export function protectedPathsOf(
  config: { readonly paths?: readonly string[] | undefined; readonly action?: ProtectedPathsAction | undefined } | undefined,
): ProtectedPaths {
  return { paths: config?.paths ?? defaultProtectedPaths, action: config?.action ?? 'flag' };
}

/**
 * The paths of `patch` a pattern of `paths` matches, sorted. A pattern matches the whole path from
 * the repository's root: `*` and `?` within one folder, `**` across folders (`.github/workflows/**`
 * is everything under it, `**\/Jenkinsfile` one in any folder).
 */
export function protectedPathsTouched(patch: Uint8Array, paths: readonly string[]): string[] {
  if (paths.length === 0) return [];
  const matchers = paths.map(globPattern);
  return patchPaths(Buffer.from(patch).toString('utf8')).filter((path) => matchers.some((matcher) => matcher.test(path)));
}

/**
 * Refuses a delivery whose patch touches `touched` on a forge whose protected paths refuse them:
 * the paths, the forge and the option that decides named, so the operator can see what to change.
 */
export function refuseProtectedPaths(forge: string, itemId: string, touched: readonly string[]): never {
  throw new CairnError(
    'CAIRN_FORGE_PATH_PROTECTED',
    `The patch item ${itemId} delivers changes ${touched.map((path) => JSON.stringify(path)).join(', ')}, which the forge ${forge} protects (what it runs as configuration, such as CI): nothing was pushed. Deliver a patch that leaves them alone, or let a person push it; an operator can flag such patches instead of refusing them (forges.${forge}.protectedPaths.action: flag) or change the paths (forges.${forge}.protectedPaths.paths).`,
    { path: `config.forges.${forge}.protectedPaths`, details: { forge, paths: [...touched] } },
  );
}

/** A glob as an anchored regular expression: `**\/` any folders (or none), `**` anything, `*` and `?` within a folder. */
export function globPattern(glob: string): RegExp {
  let source = '';
  for (let index = 0; index < glob.length; index++) {
    const character = glob[index]!;
    if (glob.startsWith('**/', index)) {
      source += '(?:.*/)?';
      index += 2;
    } else if (glob.startsWith('**', index)) {
      source += '.*';
      index += 1;
    } else if (character === '*') source += '[^/]*';
    else if (character === '?') source += '[^/]';
    else source += character.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's');
}
