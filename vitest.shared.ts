import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineProject, type UserWorkspaceConfig } from 'vitest/config';

const root = dirname(fileURLToPath(import.meta.url));

interface ExportsEntry {
  '@cairn/source'?: string;
}

/**
 * Unit tests import `src`, never a stale `dist` (ADR 0003). Every workspace package declares its
 * source entry points under the `@cairn/source` export condition; the aliases are derived from
 * those maps so they cannot drift from the packages.
 */
function sourceAliases(): { find: RegExp; replacement: string }[] {
  const aliases: { find: RegExp; replacement: string }[] = [];
  for (const group of ['packages', 'apps']) {
    const groupDir = join(root, group);
    if (!existsSync(groupDir)) continue;
    for (const folder of readdirSync(groupDir)) {
      const manifestPath = join(groupDir, folder, 'package.json');
      if (!existsSync(manifestPath)) continue;
      const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
        name: string;
        exports?: Record<string, ExportsEntry>;
      };
      for (const [subpath, entry] of Object.entries(manifest.exports ?? {})) {
        const source = entry['@cairn/source'];
        if (!source) continue;
        const specifier = subpath === '.' ? manifest.name : `${manifest.name}/${subpath.slice(2)}`;
        const escaped = specifier.replace(/[/.]/g, (c) => `\\${c}`);
        aliases.push({ find: new RegExp(`^${escaped}$`), replacement: join(groupDir, folder, source) });
      }
    }
  }
  return aliases;
}

/** The vitest project every package uses; `overrides` for the rare package that needs more. */
export function definePackageTests(overrides: UserWorkspaceConfig['test'] = {}) {
  return defineProject({
    resolve: { alias: sourceAliases() },
    test: {
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      typecheck: { enabled: false },
      // A worker runs its files one after another in one process, modules imported once: each file
      // in a fresh process spent more time starting and importing than many spend testing (measured:
      // vitest 1,537 s against 1,398 s whole, 362 s of imports against 86). So a file leaves the
      // process as it found it: servers closed, and a module it mocks imported anew
      // (vi.resetModules). Spies are restored after each test, env and global stubs after each file
      // (vitest.shared-process.ts).
      isolate: false,
      restoreMocks: true,
      testTimeout: 20_000,
      setupFiles: [join(root, 'vitest.property-seed.ts'), join(root, 'vitest.shared-process.ts')],
      ...overrides,
    },
  });
}
