// The face every package shows (CONVENTIONS.md, "Packaging and tooling" and "Implementation
// packages"), checked from the folders so that no hand-kept list can drift.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, test } from 'vitest';
import { declaredExports, importedPackages, publishablePackages, type ExportConditions } from './support/workspace.ts';

/**
 * Dependencies point inward (ARCHITECTURE.md, "Layout"): which workspace packages each package may
 * import. A package missing here fails the test, so a new package must state its place.
 */
const allowedWorkspaceImports: Record<string, string[]> = {
  '@cairn/core': [],
  '@cairn/protocol': ['@cairn/core'],
  '@cairn/audit': ['@cairn/core', '@cairn/protocol'],
  '@cairn/conformance': ['@cairn/core', '@cairn/protocol'],
  '@cairn/engine': ['@cairn/core', '@cairn/protocol', '@cairn/audit'],
  '@cairn/worker': ['@cairn/core', '@cairn/protocol', '@cairn/audit'],
  '@cairn/local': ['@cairn/core', '@cairn/protocol', '@cairn/worker'],
  '@cairn/s3': ['@cairn/core', '@cairn/protocol'],
  '@cairn/kms': ['@cairn/core', '@cairn/protocol'],
  // An anchor that checks the tokens it is given with the verifier's own (pure) token code.
  '@cairn/timestamp': ['@cairn/core', '@cairn/protocol', '@cairn/audit'],
  // A forge variant: core's ForgeV1, protocol's errors, settings parsing and hardened git.
  '@cairn/git-forge': ['@cairn/core', '@cairn/protocol'],
  // The GitHub forge pushes with the git forge and adds pull requests through GitHub's REST API.
  '@cairn/github-forge': ['@cairn/core', '@cairn/protocol', '@cairn/git-forge'],
  // The task side of Fargate is S3 storage and a KMS cipher by nature (ADR 0021): the worker
  // entrypoint builds them, and the executor spells its task settings with their shapes.
  '@cairn/fargate': ['@cairn/core', '@cairn/protocol', '@cairn/worker', '@cairn/s3', '@cairn/kms'],
  // A pod per attempt running the worker image Fargate runs: its task contract (environment, sealed
  // secrets) is @cairn/fargate's, its storage and cipher settings spelled with S3's and KMS's shapes.
  '@cairn/kubernetes': ['@cairn/core', '@cairn/protocol', '@cairn/fargate', '@cairn/s3', '@cairn/kms'],
  // An authorizer variant: core's AuthorizerV1, protocol's errors and settings parsing.
  '@cairn/oidc': ['@cairn/core', '@cairn/protocol'],
  // Runners (ADR 0050): the server's executor over a lease book, and the daemon that runs the
  // worker's attempts on a runner's host.
  '@cairn/runner': ['@cairn/core', '@cairn/protocol', '@cairn/worker', '@cairn/local'],
  '@cairn/client': ['@cairn/core', '@cairn/protocol'],
  '@cairn/mcp': ['@cairn/core', '@cairn/protocol', '@cairn/client'],
  // The reference server composes everything.
  '@cairn/server': [
    '@cairn/core',
    '@cairn/protocol',
    '@cairn/audit',
    '@cairn/engine',
    '@cairn/worker',
    '@cairn/local',
    '@cairn/client',
    '@cairn/mcp',
    '@cairn/oidc',
  ],
};

const packages = publishablePackages();

test('the workspace has its packages', () => {
  expect(packages.map((item) => item.name)).toEqual(expect.arrayContaining(['@cairn/core', '@cairn/protocol', '@cairn/conformance']));
});

describe.each(packages.map((item) => [item.name, item] as const))('%s', (name, item) => {
  const { manifest, directory, folder } = item;
  const exportEntries = Object.entries(manifest.exports ?? {}).filter(([subpath]) => subpath !== './package.json');

  test('manifest: folder name, ESM only, no side effects, Node >= 22, files', () => {
    expect(name).toBe(`@cairn/${folder}`);
    expect(manifest.type).toBe('module');
    expect(manifest.sideEffects).toBe(false);
    expect(manifest.engines?.node).toBe('>=22');
    expect(manifest.files).toEqual(expect.arrayContaining(['dist', 'src']));
    expect(manifest.exports?.['./package.json']).toBe('./package.json');
  });

  test('exports map: source condition, then types before import, and every target exists', () => {
    expect(exportEntries.length).toBeGreaterThan(0);
    for (const [subpath, conditions] of exportEntries) {
      expect(typeof conditions, `${subpath} must be a conditions object`).toBe('object');
      const keys = Object.keys(conditions as ExportConditions);
      expect(keys, `${name} exports["${subpath}"]`).toEqual(['@cairn/source', 'types', 'import']);
      const { '@cairn/source': source, types, import: entry } = conditions as Required<ExportConditions>;
      expect(existsSync(join(directory, source)), `${source} exists`).toBe(true);
      expect(existsSync(join(directory, types)), `${types} was built`).toBe(true);
      expect(existsSync(join(directory, entry)), `${entry} was built`).toBe(true);
      expect(entry.replace(/\.js$/, '.d.ts')).toBe(types);
    }
  });

  test('entry points re-export by name (no export *, no code) and dist exports exactly those values', async () => {
    for (const [subpath, conditions] of exportEntries) {
      const { '@cairn/source': source, import: entry } = conditions as Required<ExportConditions>;
      const declared = declaredExports(join(directory, source));
      expect(declared.starExports, `${name}${subpath.slice(1)} uses export *`).toEqual([]);
      expect(declared.otherStatements, `${name}${subpath.slice(1)} does more than re-export`).toEqual([]);
      const runtime = await import(pathToFileURL(join(directory, entry)).href);
      expect(Object.keys(runtime).sort(), `runtime exports of ${entry}`).toEqual([...declared.values].sort());
    }
  });

  test('VERSION matches package.json (except the types-only core)', async () => {
    const root = exportEntries.find(([subpath]) => subpath === '.');
    expect(root).toBeDefined();
    const declared = declaredExports(join(directory, (root![1] as ExportConditions)['@cairn/source']!));
    if (name === '@cairn/core') {
      expect(declared.values).toEqual([]);
      expect(manifest.dependencies ?? {}).toEqual({});
      return;
    }
    const runtime = await import(pathToFileURL(join(directory, (root![1] as ExportConditions).import!)).href);
    expect(runtime.VERSION).toBe(manifest.version);
  });

  test('implementation factories show the same face: create<X>, <X>Settings, <x>SettingsSchema, class <X>', () => {
    const root = exportEntries.find(([subpath]) => subpath === '.')!;
    const declared = declaredExports(join(directory, (root[1] as ExportConditions)['@cairn/source']!));
    for (const factory of declared.values.filter((value) => /^create[A-Z]/.test(value))) {
      const implementation = factory.slice('create'.length);
      expect(declared.types, `${factory} needs its settings type`).toContain(`${implementation}Settings`);
      expect(declared.values, `${factory} needs its settings schema`).toContain(`${implementation[0]!.toLowerCase()}${implementation.slice(1)}SettingsSchema`);
      expect(declared.values, `${factory} needs its class`).toContain(implementation);
    }
  });

  test('dependencies point inward and every import is declared', () => {
    const allowed = allowedWorkspaceImports[name];
    expect(allowed, `${name} must be given its place in allowedWorkspaceImports`).toBeDefined();
    const imported = importedPackages(join(directory, 'src'));
    const declared = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})]);
    for (const specifier of imported) {
      if (specifier.startsWith('@cairn/') && name !== '@cairn/server') {
        expect(allowed, `${name} may not import ${specifier}`).toContain(specifier);
      }
      // The server is the host that applies logging (conventions: "wrappers applied by the host").
      if (name !== '@cairn/server') expect(specifier, `${name} imports pino; accept a logger instead`).not.toBe('pino');
      expect(declared.has(specifier), `${name} imports ${specifier} without declaring it`).toBe(true);
    }
  });

  test('has a README', () => {
    const readme = join(directory, 'README.md');
    expect(existsSync(readme)).toBe(true);
    const text = readFileSync(readme, 'utf8');
    expect(text).toContain(name);
    // attw's default profile flags an ESM-only package: every README says so, with the Node its
    // engines name (so a newcomer reading any one package learns it, and it says what the manifest says).
    const stated = /^ESM only \(`import`, not `require`\), for Node\.js >= (\d+) \(`engines\.node`\)\.$/m.exec(text);
    expect(stated, `${name}'s README says it is ESM only and for which Node`).not.toBeNull();
    expect(`>=${stated![1]}`, `${name}'s README and engines.node`).toBe(manifest.engines?.node);
  });
});
