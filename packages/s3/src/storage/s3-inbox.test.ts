import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { AuditLog, InboxIngester, openEngineDatabase, RunStateMachine, WorkingCopy } from '@cairn/engine/internals';
import { afterAll, describe, expect, test } from 'vitest';
import { createTestBucket, deleteTestBucket, radosgwClient } from '../testing/radosgw-connection.ts';
import { createS3StorageProvider } from './s3-storage-provider.ts';

// The engine's inbox over an S3 prefix: run specs dropped into `<prefix>inbox/` of the bucket
// (here with a raw client, as an operator's `aws s3 cp` would) become runs exactly as from a directory.
const raw = radosgwClient({ maxAttempts: 1 });
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const yamlSpec = (name: string) => `version: 1\nname: ${name}\nitems:\n  - { id: a, runtime: { kind: command, argv: [make] } }\n`;

async function setUp() {
  const bucket = await createTestBucket(raw);
  cleanups.push(() => deleteTestBucket(raw, bucket));
  const directory = mkdtempSync(join(tmpdir(), 'cairn-s3-inbox-'));
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  const database = openEngineDatabase(join(directory, 'engine.db'));
  cleanups.push(() => void database.close());
  const workingCopy = new WorkingCopy(database);
  const machine = new RunStateMachine(workingCopy, new AuditLog(workingCopy));
  const storage = createS3StorageProvider({ bucket, prefix: 'cairn', client: radosgwClient({ maxAttempts: 1 }) });
  const inbox = new InboxIngester({ storage, submit: (spec, options) => machine.submit(spec, options), now: () => Date.UTC(2026, 10, 23, 12) });
  const drop = (name: string, body: string | Uint8Array) => raw.send(new PutObjectCommand({ Bucket: bucket, Key: `cairn/inbox/${name}`, Body: body }));
  const rawKeys = async () => ((await raw.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'cairn/' }))).Contents ?? []).map((object) => object.Key!);
  const readJson = async (key: string) =>
    JSON.parse(await (await raw.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString()) as Record<string, unknown>;
  const runCount = () => (database.prepare('SELECT COUNT(*) AS count FROM runs').get() as { count: number }).count;
  return { machine, inbox, drop, rawKeys, readJson, runCount };
}

describe('the inbox over S3', () => {
  test('a valid spec becomes a run and is removed; an invalid one is quarantined under rejected/ with its reason; a repeat is idempotent', async () => {
    const { machine, inbox, drop, rawKeys, readJson, runCount } = await setUp();
    await drop('nightly.yaml', yamlSpec('nightly'));
    await drop('broken.yaml', 'version: 1\nname: [unclosed\n');
    await drop('invalid.json', JSON.stringify({ version: 1, name: 'invalid', items: [{ id: 'a', runtime: { kind: 'command' } }] }));

    expect(await inbox.poll()).toEqual({ ingested: 1, rejected: 2, deferred: 0 });
    expect(runCount()).toBe(1);
    const receipt = await readJson('cairn/inbox/processed/nightly.yaml.json');
    expect(machine.run(String(receipt['runId']))).toMatchObject({ name: 'nightly' });
    expect(receipt).toMatchObject({ file: 'nightly.yaml', created: true });
    expect(await rawKeys()).toEqual([
      'cairn/inbox/processed/nightly.yaml.json',
      'cairn/inbox/rejected/broken.yaml',
      'cairn/inbox/rejected/broken.yaml.reason.json',
      'cairn/inbox/rejected/invalid.json',
      'cairn/inbox/rejected/invalid.json.reason.json',
    ]);
    expect(await readJson('cairn/inbox/rejected/broken.yaml.reason.json')).toMatchObject({ file: 'broken.yaml', code: 'CAIRN_RUN_SPEC_UNPARSABLE' });
    const invalid = await readJson('cairn/inbox/rejected/invalid.json.reason.json');
    expect(invalid).toMatchObject({ file: 'invalid.json', code: 'CAIRN_RUN_SPEC_INVALID' });
    expect((invalid['issues'] as { path: string }[]).map((issue) => issue.path).join(' ')).toContain('items');

    // The same bytes under the same name again: the first run is returned, no second one.
    await drop('nightly.yaml', yamlSpec('nightly'));
    expect(await inbox.poll()).toEqual({ ingested: 1, rejected: 0, deferred: 0 });
    expect(runCount()).toBe(1);
    expect(await readJson('cairn/inbox/processed/nightly.yaml.json')).toMatchObject({ runId: receipt['runId'], created: false });
    expect((await rawKeys()).filter((key) => !key.includes('/rejected/') && !key.includes('/processed/'))).toEqual([]);
    expect(await inbox.poll()).toEqual({ ingested: 0, rejected: 0, deferred: 0 });
  });
});
