// A run whose workspace names a git repository reaches the engine fetched (the server fills in
// the commit and the snapshot): its submission entry records them; one that arrives unfetched is
// refused, since its items would start in an empty folder.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditActor } from '@cairn/core';
import { isCairnError } from '@cairn/protocol';
import { afterEach, expect, test } from 'vitest';
import { AuditLog } from '../audit/audit-log.ts';
import { openEngineDatabase } from '../store/sqlite/open-engine-database.ts';
import { WorkingCopy } from '../store/sqlite/working-copy.ts';
import { RunStateMachine } from './run-state-machine.ts';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

const ana: AuditActor = { kind: 'user', id: 'ana', via: 'cli' };
const repository = 'https://git.example.com/team/app.git';
const fetched = { repository, ref: 'main', commit: 'c'.repeat(40), snapshot: `sha256:${'d'.repeat(64)}` };
const spec = (workspace: Record<string, unknown>) => ({
  version: 1,
  name: 'fetched',
  workspace,
  items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] } }],
});

function machine() {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-engine-'));
  directories.push(directory);
  const database = openEngineDatabase(join(directory, 'engine.db'));
  const audit = new AuditLog(new WorkingCopy(database));
  return { audit, machine: new RunStateMachine(new WorkingCopy(database), audit, {}) };
}

test('a fetched workspace is stored with its run, and its run.submitted entry names the repository, ref, commit and snapshot', () => {
  const { machine: engine, audit } = machine();
  const { runId } = engine.submit(spec(fetched), { actor: ana });
  expect(engine.spec(runId)?.workspace).toEqual(fetched);
  const [submitted] = audit.runEntries(runId);
  expect(submitted).toMatchObject({ action: 'run.submitted', data: { workspace: fetched } });
});

test('a repository that reached the engine unfetched is refused at $.workspace.repository, and nothing is stored', () => {
  const { machine: engine, audit } = machine();
  let refusal: unknown;
  try {
    engine.submit(spec({ repository, ref: 'main' }), { actor: ana });
  } catch (error) {
    refusal = error;
  }
  expect(isCairnError(refusal, 'CAIRN_RUN_SPEC_INVALID')).toBe(true);
  expect(refusal).toMatchObject({ path: '$.workspace.repository' });
  expect([...audit.entries()]).toEqual([]);
});
