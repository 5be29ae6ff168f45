import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StorageProviderV1 } from '@cairn/core';
import { createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { runSpecLimits } from '@cairn/protocol';
import { afterEach, describe, expect, test } from 'vitest';
import { AuditLog } from '../audit/audit-log.ts';
import { openEngineDatabase } from '../database/open-engine-database.ts';
import { RunStateMachine } from '../state/run-state-machine.ts';
import { InboxIngester } from './inbox-ingester.ts';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

const text = (value: string) => new TextEncoder().encode(value);
const read = async (storage: StorageProviderV1, key: string) => {
  const bytes = await storage.get(key);
  return bytes === null ? null : (JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>);
};
const yamlSpec = (name: string) => `version: 1\nname: ${name}\nitems:\n  - { id: a, runtime: { kind: command, argv: [make] } }\n`;

function setUp(storage: StorageProviderV1 = createInMemoryStorageProvider()) {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-inbox-'));
  directories.push(directory);
  const database = openEngineDatabase(join(directory, 'engine.db'));
  const audit = new AuditLog(database);
  const machine = new RunStateMachine(database, audit);
  const inbox = new InboxIngester({ storage, submit: (spec, options) => machine.submit(spec, options), now: () => Date.UTC(2026, 10, 22, 12) });
  const runCount = () => (database.prepare('SELECT COUNT(*) AS count FROM runs').get() as { count: number }).count;
  const keys = async () => (await storage.list({ prefix: '' })).keys;
  return { storage, machine, audit, inbox, runCount, keys };
}

describe('InboxIngester', () => {
  test('YAML and JSON specs become runs submitted through the inbox, with receipts; the files are removed', async () => {
    const { storage, inbox, machine, audit, keys } = setUp();
    await storage.put('inbox/nightly.yaml', text(yamlSpec('nightly')));
    await storage.put('inbox/adhoc.json', text(JSON.stringify({ version: 1, name: 'adhoc', items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] } }] })));
    expect(await inbox.poll()).toEqual({ ingested: 2, rejected: 0 });
    expect(await keys()).toEqual(['inbox/processed/adhoc.json.json', 'inbox/processed/nightly.yaml.json']);
    const receipt = (await read(storage, 'inbox/processed/nightly.yaml.json'))!;
    expect(receipt).toMatchObject({ file: 'nightly.yaml', created: true, ingestedAt: '2026-11-22T12:00:00.000Z' });
    expect(machine.run(String(receipt['runId']))!.name).toBe('nightly');
    expect(audit.runEntries(String(receipt['runId']))[0]!.actor).toEqual({ kind: 'system', id: 'inbox', via: 'inbox' });
    expect(await inbox.poll()).toEqual({ ingested: 0, rejected: 0 });
  });

  test('files that can never be accepted are moved aside with a reason naming every problem; good files in the same poll still go in', async () => {
    const { storage, inbox, runCount, keys } = setUp();
    await storage.put('inbox/a-broken.yaml', text('version: 1\nname: [unclosed\n'));
    await storage.put('inbox/b-invalid.json', text(JSON.stringify({ version: 1, name: 'x', items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] }, dependsOn: ['ghost'] }, { id: 'a' }] })));
    await storage.put('inbox/c-notes.txt', text('not a spec'));
    await storage.put('inbox/d-good.yaml', text(yamlSpec('good')));
    await storage.put('inbox/e-binary.json', new Uint8Array([0xff, 0xfe, 0x00]));
    expect(await inbox.poll()).toEqual({ ingested: 1, rejected: 4 });
    expect(runCount()).toBe(1);
    expect((await keys()).filter((key) => key.startsWith('inbox/rejected/'))).toEqual([
      'inbox/rejected/a-broken.yaml', 'inbox/rejected/a-broken.yaml.reason.json', 'inbox/rejected/b-invalid.json', 'inbox/rejected/b-invalid.json.reason.json',
      'inbox/rejected/c-notes.txt', 'inbox/rejected/c-notes.txt.reason.json', 'inbox/rejected/e-binary.json', 'inbox/rejected/e-binary.json.reason.json',
    ]);
    expect(await read(storage, 'inbox/rejected/a-broken.yaml.reason.json')).toMatchObject({ code: 'CAIRN_RUN_SPEC_UNPARSABLE', message: expect.stringContaining('inbox/a-broken.yaml:3:1 is not valid YAML') });
    const invalid = (await read(storage, 'inbox/rejected/b-invalid.json.reason.json'))!;
    expect(invalid['code']).toBe('CAIRN_RUN_SPEC_INVALID');
    expect((invalid['issues'] as { path: string }[]).map((issue) => issue.path)).toEqual(expect.arrayContaining(['$.items[0].dependsOn[0]', '$.items[1].id', '$.items[1].runtime']));
    expect(await read(storage, 'inbox/rejected/c-notes.txt.reason.json')).toMatchObject({ message: 'c-notes.txt is not a run spec file; name it with .yaml, .yml, .json.' });
    expect(await read(storage, 'inbox/rejected/e-binary.json.reason.json')).toMatchObject({ code: 'CAIRN_RUN_SPEC_UNPARSABLE' });
    // The original bytes are kept, for the submitter to fix.
    expect(new TextDecoder().decode((await storage.get('inbox/rejected/a-broken.yaml'))!)).toBe('version: 1\nname: [unclosed\n');
  });

  test('a file too large is never read whole: it stays, with its reason written once', async () => {
    const { storage, inbox, keys } = setUp();
    await storage.put('inbox/huge.yaml', new Uint8Array(runSpecLimits.documentBytes + 1));
    expect(await inbox.poll()).toEqual({ ingested: 0, rejected: 1 });
    expect(await keys()).toEqual(['inbox/huge.yaml', 'inbox/rejected/huge.yaml.reason.json']);
    expect(await read(storage, 'inbox/rejected/huge.yaml.reason.json')).toMatchObject({ code: 'CAIRN_RUN_SPEC_TOO_LARGE' });
  });

  test('a crash after the submit and before the file is removed makes no second run; a storage failure leaves the file for later', async () => {
    const storage = createInMemoryStorageProvider();
    let failDeletes = 1;
    const flaky: StorageProviderV1 = {
      ...storage,
      specificationVersion: 'v1',
      provider: 'flaky',
      capabilities: storage.capabilities,
      put: (key, body, options) => storage.put(key, body, options),
      get: (key) => storage.get(key),
      head: (key) => storage.head(key),
      list: (options) => storage.list(options),
      delete: async (key) => {
        if (failDeletes-- > 0) throw new Error('storage unreachable');
        return storage.delete(key);
      },
    };
    const { inbox, runCount } = setUp(flaky);
    await storage.put('inbox/nightly.yaml', text(yamlSpec('nightly')));
    expect(await inbox.poll()).toEqual({ ingested: 0, rejected: 0 });
    expect(runCount()).toBe(1);
    expect(await inbox.poll()).toEqual({ ingested: 1, rejected: 0 });
    expect(runCount()).toBe(1);
    expect((await read(storage, 'inbox/processed/nightly.yaml.json'))!['created']).toBe(false);
  });

  test('a spec naming its own idempotency key is deduplicated by it across file names; partial uploads wait and sub-folders are refused', async () => {
    const { storage, inbox, runCount, keys } = setUp();
    const keyed = `${yamlSpec('keyed')}idempotencyKey: nightly-2026-11-22\n`;
    await storage.put('inbox/first.yaml', text(keyed));
    await storage.put('inbox/second.yaml', text(keyed));
    await storage.put('inbox/.uploading.yaml', text('half'));
    await storage.put('inbox/big.yaml.part', text('half'));
    expect(await inbox.poll()).toEqual({ ingested: 2, rejected: 0 });
    expect(runCount()).toBe(1);
    expect(await keys()).toEqual(expect.arrayContaining(['inbox/.uploading.yaml', 'inbox/big.yaml.part']));
    await storage.put('inbox/team/nested.yaml', text(yamlSpec('nested')));
    expect(await inbox.poll()).toEqual({ ingested: 0, rejected: 1 });
    expect(await read(storage, 'inbox/rejected/team_nested.yaml.reason.json')).toMatchObject({ message: expect.stringContaining('put the spec directly in inbox/') });
  });

  test('many files, more than one listing page, all go in', async () => {
    const { storage, inbox, runCount } = setUp();
    for (let index = 0; index < 1_050; index++) await storage.put(`inbox/spec-${String(index).padStart(4, '0')}.yaml`, text(yamlSpec(`n${index}`)));
    expect(await inbox.poll()).toEqual({ ingested: 1_050, rejected: 0 });
    expect(runCount()).toBe(1_050);
  });
});
