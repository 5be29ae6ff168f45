import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { publishablePackages, repositoryRoot } from './workspace.ts';

/** A project outside the repository that installed some of the packages as npm would. */
export interface ConsumerProject {
  readonly directory: string;
  /** Every package in its node_modules, by name. */
  readonly installed: readonly string[];
  remove(): void;
}

interface Manifest {
  readonly dependencies?: Record<string, string>;
}

const pnpm = ((): string => {
  const local = join(repositoryRoot, '.tools', 'pnpm', 'node_modules', '.bin', 'pnpm');
  return existsSync(local) ? local : 'pnpm';
})();

/**
 * Makes a consumer of `packages` (and `extra` third-party packages, such as `@types/node`) in a
 * fresh temporary folder, laid out as an install from the registry would be: each `@cairn/*`
 * package it needs, directly or through another, is packed with `pnpm pack` (only its published
 * files, `workspace:` ranges resolved) and unpacked into `node_modules`; each third-party
 * dependency is linked there from where the workspace installed it. Nothing else is reachable: the
 * folder is outside the repository, so no workspace `node_modules` (and none of their dev
 * dependencies, such as `@types/better-sqlite3`) is found by walking up. Packages must be built.
 */
export function consumerProject(packages: readonly string[], extra: readonly string[] = []): ConsumerProject {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-consumer-'));
  const modules = join(directory, 'node_modules');
  const workspace = new Map(publishablePackages().map((item) => [item.name, item.directory]));
  const installed: string[] = [];
  const install = (name: string, from: string): void => {
    if (installed.includes(name)) return;
    installed.push(name);
    const source = workspace.get(name);
    const target = join(modules, name);
    mkdirSync(dirname(target), { recursive: true });
    if (source === undefined) {
      symlinkSync(realpathSync(join(from, 'node_modules', name)), target);
      return;
    }
    const tarball = execFileSync(pnpm, ['pack', '--pack-destination', directory], { cwd: source, encoding: 'utf8' }).trim().split('\n').at(-1)!;
    mkdirSync(target);
    execFileSync('tar', ['-xzf', tarball, '-C', target, '--strip-components=1']);
    rmSync(tarball);
    const manifest = JSON.parse(readFileSync(join(target, 'package.json'), 'utf8')) as Manifest;
    for (const dependency of Object.keys(manifest.dependencies ?? {})) install(dependency, source);
  };
  for (const name of packages) install(name, repositoryRoot);
  for (const name of extra) install(name, join(repositoryRoot, 'tests'));
  return { directory, installed, remove: () => rmSync(directory, { recursive: true, force: true }) };
}
