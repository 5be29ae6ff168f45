import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInMemorySigner } from '@cairn/conformance/mocks';
import { afterEach, expect, test } from 'vitest';
import type { EngineDatabase } from '../store/shared/engine-database.ts';
import { openEngineDatabase } from '../store/sqlite/open-engine-database.ts';
import { WorkingCopy } from '../store/sqlite/working-copy.ts';
import { AuditLog, type AuditEntryDraft } from './audit-log.ts';
import { Checkpointer } from './checkpointer.ts';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

const actor = { kind: 'system', id: 'engine', via: 'engine' } as const;
const draft = (action: AuditEntryDraft['action']): AuditEntryDraft => ({
  actor,
  action,
  entity: { kind: 'run', id: 'r1' },
  outcome: 'success',
  runId: 'r1',
  data: {},
});

/** The parameters each run of the statement whose SQL contains `fragment` was given. */
function recordParameters(database: EngineDatabase, fragment: string): unknown[][] {
  const calls: unknown[][] = [];
  const prepare = database.prepare.bind(database);
  Object.defineProperty(database, 'prepare', {
    value: (source: string) => {
      const statement = prepare(source);
      if (!source.includes(fragment)) return statement;
      const get = statement.get.bind(statement) as (...parameters: unknown[]) => unknown;
      Object.defineProperty(statement, 'get', {
        value: (...parameters: unknown[]) => {
          calls.push(parameters);
          return get(...parameters);
        },
      });
      return statement;
    },
  });
  return calls;
}

test('each turn looks for a run end only in entries no earlier turn searched, and still finds it', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-checkpointer-'));
  directories.push(directory);
  const database = openEngineDatabase(join(directory, 'engine.db'));
  const searches = recordParameters(database, "action IN ('run.succeeded', 'run.failed', 'run.cancelled')");
  const workingCopy = new WorkingCopy(database);
  const audit = new AuditLog(workingCopy);
  const checkpointer = new Checkpointer({
    workingCopy,
    audit,
    signer: createInMemorySigner(),
    anchors: [],
    origin: 'cairn:test',
    everyEntries: 1_000,
    everyMs: 3_600_000,
    now: Date.now,
  });
  await checkpointer.takeOver();
  for (let entry = 0; entry < 20; entry++) audit.append(draft('run.started'));
  expect(await checkpointer.issueIfDue()).toBeUndefined();
  const searchedTo = audit.size;
  for (let entry = 0; entry < 20; entry++) audit.append(draft('run.started'));
  expect(await checkpointer.issueIfDue()).toBeUndefined();
  audit.append(draft('run.succeeded'));
  const ended = audit.size;
  expect(await checkpointer.issueIfDue()).toBe(ended);
  // After the checkpoint (its own entry appended), the search starts at what it covers.
  audit.append(draft('run.started'));
  expect(await checkpointer.issueIfDue()).toBeUndefined();
  expect(searches.map(([from]) => from)).toEqual([0, searchedTo, searchedTo + 20, ended]);
  database.close();
});
