import { createHash } from 'node:crypto';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EnvironmentSpec } from '@cairn/core';
import { canonicalJsonBytes } from '@cairn/protocol';

/**
 * The lockfiles an environment is keyed by when its spec names no `key`, looked for at the
 * workspace's top only: each fixes what a package manager installs, so equal contents make an
 * equal environment. `requirements*.txt` covers pip's usual split (requirements-dev.txt).
 */
export const defaultKeyFiles = [
  'package-lock.json',
  'npm-shrinkwrap.json',
  'pnpm-lock.yaml',
  'yarn.lock',
  'bun.lock',
  'bun.lockb',
  'poetry.lock',
  'uv.lock',
  'Pipfile.lock',
  'Cargo.lock',
  'go.sum',
  'Gemfile.lock',
  'composer.lock',
  'mix.lock',
] as const;

const requirementsPattern = /^requirements.*\.txt$/;

/** What an environment's layer is keyed by, and the digest of it. */
export interface EnvironmentKey {
  /** `sha256:<hex>` of the canonical JSON of the rest: the environment's digest. */
  readonly digest: string;
  /** Each key file, and the SHA-256 of its content in the snapshot (null: not there, or not a file). */
  readonly files: readonly { readonly path: string; readonly sha256: string | null }[];
  readonly argv: readonly string[];
  readonly base: string | null;
}

/**
 * The key of `environment` over the snapshot tree `tree`: the contents of its key files (the spec's
 * `key`, or the default lockfiles found at the top), its setup argv and its base. A key file that
 * is missing counts as `null`, so adding one later makes a new key. Symlinks are not followed (a
 * key file that links out of the tree says nothing of its content): they count as missing.
 */
export async function environmentKey(tree: string, environment: EnvironmentSpec): Promise<EnvironmentKey> {
  const paths = environment.key ?? (await defaultKeyFilesIn(tree));
  const files = [];
  for (const path of [...new Set(paths)].sort()) files.push({ path, sha256: await fileDigest(join(tree, path)) });
  const base = environment.base ?? null;
  const argv = environment.setup.argv;
  const digest = `sha256:${createHash('sha256')
    .update(canonicalJsonBytes({ version: 'cairn.environment-key/v1', files, argv, base }))
    .digest('hex')}`;
  return { digest, files, argv, base };
}

/** The default key files present at the top of `tree`, by name. */
async function defaultKeyFilesIn(tree: string): Promise<string[]> {
  const names = await readdir(tree);
  const known = new Set<string>(defaultKeyFiles);
  return names.filter((name) => known.has(name) || requirementsPattern.test(name));
}

async function fileDigest(path: string): Promise<string | null> {
  const stats = await lstat(path).catch(() => undefined);
  if (!stats?.isFile()) return null;
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}
