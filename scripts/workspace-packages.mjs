// The publishable workspace packages, read from the folders (never a hand-kept list).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repositoryRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/** @returns {{ name: string, directory: string, manifest: Record<string, any> }[]} */
export function publishablePackages() {
  const packages = [];
  for (const group of ['packages', 'apps']) {
    const groupDirectory = join(repositoryRoot, group);
    if (!existsSync(groupDirectory)) continue;
    for (const folder of readdirSync(groupDirectory).sort()) {
      const manifestPath = join(groupDirectory, folder, 'package.json');
      if (!existsSync(manifestPath)) continue;
      const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
      if (manifest.private) continue;
      packages.push({ name: manifest.name, directory: join(groupDirectory, folder), manifest });
    }
  }
  return packages;
}
