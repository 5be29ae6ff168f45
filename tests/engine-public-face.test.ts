// @cairn/engine's root entry is what a library consumer composes an engine with; its building
// blocks are in @cairn/engine/internals. The list is pinned: a new public name is a
// conscious choice, made here and in a changeset.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect, test } from 'vitest';
import { declaredExports, repositoryRoot } from './support/workspace.ts';

const engineDirectory = join(repositoryRoot, 'packages', 'engine');

const publicValues = [
  // Runs that grow (ADR 0034): `cairn validate --fragment` checks a planner's output offline.
  'checkFragmentAgainstSpec',
  'createEngine',
  'createEngineHost',
  // Deliver items (ADR 0040): the server composes its executor of deliver items under this name.
  'deliverExecutorName',
  'Engine',
  'EngineHost',
  'engineHostSettingsSchema',
  'engineStateSettingsSchema',
  'engineNodeFlags',
  'engineSettingsSchema',
  'eventOfEntry',
  'isRunCursor',
  'isRunListTime',
  'postgresStateSettingsSchema',
  'runListLimits',
  'VERSION',
];
const publicTypes = [
  'AccessDenial',
  // Approval policies (ADR 0041): what EngineService.approvals answers, and who votes (with the
  // approvals whose principal's access lapsed, ADR 0046).
  'ApprovalVoteRecord',
  'ItemApprovalRecord',
  'LapsedApproval',
  'Voter',
  // The model gateway's seam (ADR 0033): what a host issues attempts, and what it records through the engine.
  'AttemptGatewayIssuer',
  'GatewayAttempt',
  'LiveAttempt',
  'ModelCall',
  'ModelCallAccess',
  // The W3C trace context a host gives each attempt's task, so the runtime's spans join its trace.
  'AttemptTraceContext',
  'AuditEntryDraft',
  'CheckedFragment',
  'AuditQuery',
  'CatchUpPolicy',
  'EngineAuditLog',
  'EngineDatabase',
  'EngineEventsOptions',
  'EngineHealth',
  'EngineHostSettings',
  'EngineMetrics',
  'EngineObserver',
  'EngineReads',
  'EngineService',
  'EngineSettings',
  'EngineStatement',
  'EngineTransaction',
  // A run's graph as it grew (GET /v1/runs/{runId}/graph): what EngineService.graphItems answers.
  'GraphItemRecord',
  'GraphItemSelection',
  'HostAuditWriter',
  'ItemAttemptRecord',
  'ItemRecord',
  'LeaderTask',
  'LockWait',
  'OverlapPolicy',
  'PostgresStateSettings',
  'RunListOptions',
  'RunPage',
  'RunRecord',
  'RunSummary',
  'ScheduleDefinition',
  'ScheduleRecord',
  'SignerTakeOver',
  'SecretRecord',
  'StateCounts',
  'SubmitOptions',
  'SubmitResult',
];

/** Source and documentation files outside the engine's own source (its README included) that may import it. */
function importingFiles(): string[] {
  const skipped = new Set(['node_modules', 'dist', '.git', '.tools', '.tsbuild', '.docs-code']);
  const walk = (directory: string): string[] =>
    readdirSync(directory).flatMap((name) => {
      if (skipped.has(name)) return [];
      const path = join(directory, name);
      if (statSync(path).isDirectory()) return path === join(engineDirectory, 'src') ? [] : walk(path);
      return /\.(ts|mts|mjs|md)$/.test(name) && !name.startsWith('CHANGELOG') ? [path] : [];
    });
  return ['apps', 'packages', 'bench', 'tests', 'docs'].flatMap((folder) => walk(join(repositoryRoot, folder))).concat(join(repositoryRoot, 'README.md'));
}

/** The names each file imports from `specifier` (static `import { ... } from` and `const { ... } = await import(...)`). */
function importedNames(specifier: string): Map<string, string[]> {
  const quoted = `['"]${specifier.replace('/', '\\/')}['"]`;
  const patterns = [
    new RegExp(`import\\s+(?:type\\s+)?\\{([^}]*)\\}\\s*from\\s*${quoted}`, 'g'),
    new RegExp(`const\\s*\\{([^}]*)\\}\\s*=\\s*await\\s+import\\(\\s*${quoted}\\s*\\)`, 'g'),
  ];
  const found = new Map<string, string[]>();
  for (const file of importingFiles()) {
    const text = readFileSync(file, 'utf8');
    for (const pattern of patterns) {
      for (const match of text.matchAll(pattern)) {
        for (const part of match[1]!.split(',')) {
          const name = part
            .trim()
            .replace(/^type\s+/, '')
            .split(/\s+as\s+/)[0]!
            .trim();
          if (name !== '') found.set(name, [...(found.get(name) ?? []), relative(repositoryRoot, file)]);
        }
      }
    }
  }
  return found;
}

test('the root entry exports exactly the pinned names', () => {
  const declared = declaredExports(join(engineDirectory, 'src', 'index.ts'));
  expect([...declared.values].sort()).toEqual([...publicValues].sort());
  expect([...declared.types].sort()).toEqual([...publicTypes].sort());
});

test('every name imported from @cairn/engine outside the package (code, tests, benchmarks, docs) is in the root entry', () => {
  const imported = importedNames('@cairn/engine');
  expect(imported.size).toBeGreaterThan(5);
  const publicNames = new Set([...publicValues, ...publicTypes]);
  const missing = [...imported].filter(([name]) => !publicNames.has(name)).map(([name, files]) => `${name} (${files.join(', ')})`);
  expect(missing).toEqual([]);
});

test('@cairn/engine/internals holds the rest, without repeating a public name, and what is imported from it exists', () => {
  const internals = declaredExports(join(engineDirectory, 'src', 'internals.ts'));
  const internalNames = new Set([...internals.values, ...internals.types]);
  expect([...internalNames].filter((name) => publicValues.includes(name) || publicTypes.includes(name))).toEqual([]);
  const unknown = [...importedNames('@cairn/engine/internals')]
    .filter(([name]) => !internalNames.has(name))
    .map(([name, files]) => `${name} (${files.join(', ')})`);
  expect(unknown).toEqual([]);
});

test('a server hosts the engine through the root entry (createEngineHost): its composition imports nothing from @cairn/engine/internals', () => {
  const composition = join(repositoryRoot, 'apps', 'server', 'src', 'composition');
  const importing = readdirSync(composition).filter((name) => readFileSync(join(composition, name), 'utf8').includes('@cairn/engine/internals'));
  expect(importing).toEqual([]);
});
