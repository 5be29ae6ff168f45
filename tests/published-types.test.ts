// The published declarations type-check in a consumer that checks libraries too (skipLibCheck:
// false) and installed only what the packages depend on: no dev dependency of the workspace, such
// as @types/better-sqlite3, may be needed to compile against them (issue 12).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { afterEach, expect, test } from 'vitest';
import { consumerProject, type ConsumerProject } from './support/consumer-project.ts';

const projects: ConsumerProject[] = [];
afterEach(() => {
  for (const project of projects.splice(0)) project.remove();
});

/** Type-checks `code` as the consumer's own module; returns the diagnostics as `file: TS<code> message`. */
function typeCheck(project: ConsumerProject, code: string): string[] {
  writeFileSync(join(project.directory, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  const file = join(project.directory, 'consumer.ts');
  writeFileSync(file, code);
  const program = ts.createProgram([file], {
    target: ts.ScriptTarget.ES2024,
    lib: ['lib.es2024.d.ts'],
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: ['node'],
    typeRoots: [join(project.directory, 'node_modules', '@types')],
    strict: true,
    exactOptionalPropertyTypes: true,
    noEmit: true,
    skipLibCheck: false,
  });
  return ts
    .getPreEmitDiagnostics(program)
    .map(
      (diagnostic) =>
        `${diagnostic.file?.fileName.replace(project.directory, '.') ?? '(no file)'}: TS${diagnostic.code} ${ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ')}`,
    );
}

test('@cairn/engine: a library consumer composing an engine compiles with skipLibCheck false and without @types/better-sqlite3', { timeout: 120_000 }, () => {
  const project = consumerProject(['@cairn/engine', '@cairn/conformance'], ['@types/node']);
  projects.push(project);
  expect(project.installed).toContain('better-sqlite3');
  expect(project.installed).not.toContain('@types/better-sqlite3');
  const problems = typeCheck(
    project,
    `
import { createEngine, engineNodeFlags, eventOfEntry, type Engine, type EngineObserver, type EngineSettings, type ItemRecord, type RunPage, type RunRecord, type ScheduleRecord } from '@cairn/engine';
import { createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import type { ExecutorV1, SignerV1 } from '@cairn/core';

declare const executor: ExecutorV1;
declare const signer: SignerV1;
const observer: EngineObserver = { attemptEnded: (event) => console.log(event.durationMs) };
const settings: EngineSettings = { database: ':memory:', executors: { local: executor }, storage: createInMemoryStorageProvider(), signer, observer };
const engine: Engine = createEngine(settings);
const page: RunPage = engine.runs({ limit: 10 });
const run: RunRecord | undefined = engine.run('r-1');
const items: ItemRecord[] = engine.items('r-1');
const schedules: ScheduleRecord[] = engine.schedules();
console.log(page.runs.length, run?.state, items.length, schedules.length, engine.audit.size, engineNodeFlags, eventOfEntry);

// The building blocks compile too, and an opened database is what the settings take.
import { AuditLog, openEngineDatabase, WorkingCopy } from '@cairn/engine/internals';
const database = openEngineDatabase('cairn.db');
const log = new AuditLog(new WorkingCopy(database));
database.transaction(() => log.append({ actor: { kind: 'user', id: 'ana', via: 'cli' }, action: 'run.submitted', entity: { kind: 'run', id: 'r1' }, outcome: 'success', runId: 'r1', data: {} }))();
const shared: Engine = createEngine({ ...settings, database });
console.log(shared.audit.merkle.rootHash().byteLength);
`,
  );
  expect(problems).toEqual([]);
});

test('@cairn/client: a consumer compiles with skipLibCheck false, uploadWorkspace included', { timeout: 120_000 }, () => {
  const project = consumerProject(['@cairn/client'], ['@types/node']);
  projects.push(project);
  const problems = typeCheck(
    project,
    `
import { createCairnClient } from '@cairn/client';

const cairn = createCairnClient({ baseUrl: 'http://127.0.0.1:7600' });
const { digest, entries } = await cairn.uploadWorkspace('./repo');
const { runId } = await cairn.submit({ version: 1, name: 'n', workspace: { snapshot: digest }, items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] } }] });
console.log(runId, entries);
`,
  );
  expect(problems).toEqual([]);
});
