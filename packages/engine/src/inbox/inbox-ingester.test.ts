import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger, StorageProviderV1 } from '@cairn/core';
import { createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { isCairnError } from '@cairn/protocol';
import { afterEach, describe, expect, test } from 'vitest';
import { AuditLog } from '../audit/audit-log.ts';
import { openEngineDatabase } from '../store/sqlite/open-engine-database.ts';
import { RunStateMachine } from '../state/run-state-machine.ts';
import { InboxIngester, type InboxIngesterSettings } from './inbox-ingester.ts';
import { WorkingCopy } from '../store/sqlite/working-copy.ts';

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

/** Storage whose calls can be made to fail, and whose listing pages can be made small. */
function faultyStorage(options: { fail?: (method: string, key: string) => boolean; pageLimit?: number } = {}) {
  const inner = createInMemoryStorageProvider();
  const calls: string[] = [];
  const check = (method: string, key: string) => {
    calls.push(`${method} ${key}`);
    if (options.fail?.(method, key)) throw new Error(`storage unreachable (${method})`);
  };
  const storage: StorageProviderV1 = {
    specificationVersion: 'v1',
    provider: 'faulty',
    capabilities: inner.capabilities,
    put: async (key, body, putOptions) => (check('put', key), inner.put(key, body, putOptions)),
    get: async (key) => (check('get', key), inner.get(key)),
    head: async (key) => (check('head', key), inner.head(key)),
    list: async (listOptions = {}) => inner.list({ ...listOptions, ...(options.pageLimit === undefined ? {} : { limit: options.pageLimit }) }),
    delete: async (key) => (check('delete', key), inner.delete(key)),
  };
  return { storage, inner, calls };
}

function recordingLogger() {
  const lines: { level: string; fields: Record<string, unknown>; message: string | undefined }[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, message?: string) => void lines.push({ level, fields, message });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, lines };
}

function setUp(storage: StorageProviderV1 = createInMemoryStorageProvider(), settings: Partial<InboxIngesterSettings> = {}) {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-inbox-'));
  directories.push(directory);
  const database = openEngineDatabase(join(directory, 'engine.db'));
  const audit = new AuditLog(new WorkingCopy(database));
  const machine = new RunStateMachine(new WorkingCopy(database), audit);
  const { logger, lines } = recordingLogger();
  const inbox = new InboxIngester({
    storage,
    submit: (spec, options) => machine.submit(spec, options),
    now: () => Date.UTC(2026, 10, 22, 12),
    logger,
    ...settings,
  });
  const runCount = () => (database.prepare('SELECT COUNT(*) AS count FROM runs').get() as { count: number }).count;
  const keys = async () => (await storage.list({ prefix: '' })).keys;
  return { storage, machine, audit, inbox, runCount, keys, lines };
}

describe('InboxIngester', () => {
  test('YAML and JSON specs become runs submitted through the inbox, with receipts; the files are removed', async () => {
    const { storage, inbox, machine, audit, keys } = setUp();
    await storage.put('inbox/nightly.yaml', text(yamlSpec('nightly')));
    await storage.put(
      'inbox/adhoc.json',
      text(JSON.stringify({ version: 1, name: 'adhoc', items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] } }] })),
    );
    await storage.put('inbox/WINDOWS.YML', text(`\uFEFF${yamlSpec('windows')}`));
    expect(await inbox.poll()).toEqual({ ingested: 3, rejected: 0, deferred: 0 });
    expect(await keys()).toEqual(['inbox/processed/WINDOWS.YML.json', 'inbox/processed/adhoc.json.json', 'inbox/processed/nightly.yaml.json']);
    const receipt = (await read(storage, 'inbox/processed/nightly.yaml.json'))!;
    expect(receipt).toEqual({
      file: 'nightly.yaml',
      runId: expect.any(String),
      created: true,
      digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      ingestedAt: '2026-11-22T12:00:00.000Z',
    });
    const runId = String(receipt['runId']);
    expect(machine.run(runId)).toMatchObject({ name: 'nightly', idempotencyKey: `inbox:nightly.yaml:${String(receipt['digest'])}` });
    const [submitted] = audit.runEntries(runId);
    expect(submitted).toMatchObject({ action: 'run.submitted', actor: { kind: 'system', id: 'inbox', via: 'inbox' } });
    expect(machine.run(String((await read(storage, 'inbox/processed/adhoc.json.json'))!['runId']))!.name).toBe('adhoc');
    expect(machine.run(String((await read(storage, 'inbox/processed/WINDOWS.YML.json'))!['runId']))!.name).toBe('windows');
    expect(await inbox.poll()).toEqual({ ingested: 0, rejected: 0, deferred: 0 });
  });

  test('files that can never be accepted are moved aside with a reason naming every problem; good files in the same poll still go in', async () => {
    const { storage, inbox, runCount, keys } = setUp();
    await storage.put('inbox/a-broken.yaml', text('version: 1\nname: [unclosed\n'));
    await storage.put(
      'inbox/b-invalid.json',
      text(JSON.stringify({ version: 1, name: 'x', items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] }, dependsOn: ['ghost'] }, { id: 'a' }] })),
    );
    await storage.put('inbox/c-notes.txt', text('not a spec'));
    await storage.put('inbox/d-good.yaml', text(yamlSpec('good')));
    await storage.put('inbox/e-binary.json', new Uint8Array([0xc3, 0x28, 0x7b]));
    await storage.put('inbox/f-powershell.yaml', new Uint8Array([0xff, 0xfe, 0x76, 0x00]));
    await storage.put('inbox/team/nested.yaml', text(yamlSpec('nested')));
    expect(await inbox.poll()).toEqual({ ingested: 1, rejected: 6, deferred: 0 });
    expect(runCount()).toBe(1);
    expect((await keys()).filter((key) => !key.startsWith('inbox/rejected/'))).toEqual(['inbox/processed/d-good.yaml.json']);
    expect((await keys()).filter((key) => key.startsWith('inbox/rejected/'))).toEqual(
      ['a-broken.yaml', 'b-invalid.json', 'c-notes.txt', 'e-binary.json', 'f-powershell.yaml', 'team/nested.yaml'].flatMap((name) => [
        `inbox/rejected/${name}`,
        `inbox/rejected/${name}.reason.json`,
      ]),
    );
    expect(await read(storage, 'inbox/rejected/a-broken.yaml.reason.json')).toEqual({
      file: 'a-broken.yaml',
      code: 'CAIRN_RUN_SPEC_UNPARSABLE',
      message: expect.stringContaining('inbox/a-broken.yaml:3:1 is not valid YAML'),
      issues: [{ path: '$', message: expect.stringContaining('inbox/a-broken.yaml:3:1 is not valid YAML') }],
      rejectedAt: '2026-11-22T12:00:00.000Z',
    });
    const invalid = (await read(storage, 'inbox/rejected/b-invalid.json.reason.json'))!;
    expect(invalid).toMatchObject({ file: 'b-invalid.json', code: 'CAIRN_RUN_SPEC_INVALID' });
    const issues = invalid['issues'] as { path: string; message: string }[];
    expect(issues.map((issue) => issue.path)).toEqual(expect.arrayContaining(['$.items[0].dependsOn[0]', '$.items[1].id', '$.items[1].runtime']));
    for (const issue of issues) expect(Object.keys(issue).sort()).toEqual(['message', 'path']);
    expect(await read(storage, 'inbox/rejected/c-notes.txt.reason.json')).toMatchObject({
      code: 'CAIRN_RUN_SPEC_INVALID',
      message: 'c-notes.txt is not a run spec file: the inbox reads files ending in .yaml, .yml, .json. Rename it with one of those endings.',
    });
    expect(await read(storage, 'inbox/rejected/e-binary.json.reason.json')).toMatchObject({
      code: 'CAIRN_RUN_SPEC_UNPARSABLE',
      message: expect.stringMatching(/^e-binary\.json is not UTF-8 text: byte \d+ \(0x[0-9a-f]{2}\) starts no valid UTF-8 sequence; save it as UTF-8\.$/),
    });
    expect(await read(storage, 'inbox/rejected/f-powershell.yaml.reason.json')).toMatchObject({
      message: 'f-powershell.yaml is UTF-16 text; save it as UTF-8.',
    });
    expect(await read(storage, 'inbox/rejected/team/nested.yaml.reason.json')).toMatchObject({
      message: expect.stringContaining('put the spec directly in inbox/'),
    });
    // The original bytes are kept, for the submitter to fix.
    expect(new TextDecoder().decode((await storage.get('inbox/rejected/a-broken.yaml'))!)).toBe('version: 1\nname: [unclosed\n');
    expect(await storage.get('inbox/rejected/e-binary.json')).toEqual(new Uint8Array([0xc3, 0x28, 0x7b]));
  });

  test('a file over maxBytes is refused from its size without being read, counted once, and taken once replaced', async () => {
    const { storage, inner, calls } = faultyStorage();
    const { inbox, keys, runCount } = setUp(storage, { maxBytes: 200 });
    // An earlier, different rejection of the same name must not stand in for this one.
    await inner.put('inbox/rejected/huge.yaml.reason.json', text(JSON.stringify({ file: 'huge.yaml', code: 'CAIRN_RUN_SPEC_UNPARSABLE', message: 'old' })));
    const huge = text(`${yamlSpec('huge')}# ${'x'.repeat(300)}\n`);
    await inner.put('inbox/huge.yaml', huge);
    await inner.put('inbox/huge.zip', new Uint8Array(500));
    expect(await inbox.poll()).toEqual({ ingested: 0, rejected: 2, deferred: 0 });
    expect(calls.filter((call) => call.startsWith('get inbox/huge'))).toEqual([]);
    expect(await keys()).toEqual(['inbox/huge.yaml', 'inbox/huge.zip', 'inbox/rejected/huge.yaml.reason.json', 'inbox/rejected/huge.zip.reason.json']);
    expect(await read(storage, 'inbox/rejected/huge.yaml.reason.json')).toEqual({
      file: 'huge.yaml',
      code: 'CAIRN_RUN_SPEC_TOO_LARGE',
      message: `huge.yaml is ${huge.byteLength} bytes; the inbox takes run specs of at most 200 bytes. It was left in inbox/ unread: split the run into smaller specs, then replace or delete the file.`,
      rejectedAt: '2026-11-22T12:00:00.000Z',
    });
    expect(await read(storage, 'inbox/rejected/huge.zip.reason.json')).toMatchObject({
      message: expect.stringMatching(/ending in \.yaml, \.yml, \.json.*500 bytes it is too large to move aside/),
    });
    expect(await inbox.poll()).toEqual({ ingested: 0, rejected: 0, deferred: 0 });
    await inner.put('inbox/huge.yaml', text(yamlSpec('huge')));
    expect(await inbox.poll()).toEqual({ ingested: 1, rejected: 0, deferred: 0 });
    expect(runCount()).toBe(1);
  });

  test('a crash after the submit and before the file is removed makes no second run', async () => {
    for (const step of ['delete', 'put'] as const) {
      let failures = 1;
      const { storage, inner } = faultyStorage({ fail: (method, key) => method === step && key.startsWith('inbox/') && failures-- > 0 });
      const { inbox, runCount, audit } = setUp(storage);
      await inner.put('inbox/nightly.yaml', text(yamlSpec('nightly')));
      expect(await inbox.poll()).toEqual({ ingested: 0, rejected: 0, deferred: 1 });
      expect(runCount()).toBe(1);
      expect(await inner.get('inbox/nightly.yaml')).not.toBeNull();
      expect(await inbox.poll()).toEqual({ ingested: 1, rejected: 0, deferred: 0 });
      expect(runCount()).toBe(1);
      const receipt = (await read(inner, 'inbox/processed/nightly.yaml.json'))!;
      expect(receipt['created']).toBe(false);
      expect(audit.runEntries(String(receipt['runId'])).filter((entry) => entry.action === 'run.submitted')).toHaveLength(1);
      expect(await inner.get('inbox/nightly.yaml')).toBeNull();
    }
  });

  test('a storage failure on one file leaves it for the next poll and logs it; the others still go in', async () => {
    let down = true;
    const { storage, inner } = faultyStorage({ fail: (method, key) => down && method === 'get' && key === 'inbox/b.yaml' });
    const { inbox, runCount, lines } = setUp(storage);
    for (const name of ['a', 'b', 'c']) await inner.put(`inbox/${name}.yaml`, text(yamlSpec(name)));
    expect(await inbox.poll()).toEqual({ ingested: 2, rejected: 0, deferred: 1 });
    expect(await inner.get('inbox/b.yaml')).not.toBeNull();
    expect(lines.filter((line) => line.level === 'warn')).toEqual([
      { level: 'warn', fields: { key: 'inbox/b.yaml', error: 'Error: storage unreachable (get)' }, message: 'inbox file left for the next poll' },
    ]);
    down = false;
    expect(await inbox.poll()).toEqual({ ingested: 1, rejected: 0, deferred: 0 });
    expect(runCount()).toBe(3);
  });

  test('an unexpected failure of submit is not a rejection: the file stays, and the log never quotes the spec', async () => {
    const { storage, inner } = faultyStorage();
    let broken = true;
    const directory = mkdtempSync(join(tmpdir(), 'cairn-inbox-'));
    directories.push(directory);
    const database = openEngineDatabase(join(directory, 'engine.db'));
    const machine = new RunStateMachine(new WorkingCopy(database), new AuditLog(new WorkingCopy(database)));
    const { logger, lines } = recordingLogger();
    const inbox = new InboxIngester({
      storage,
      logger,
      submit: (spec, options) => {
        if (broken) throw new TypeError(`cannot read ${spec}`);
        return machine.submit(spec, options);
      },
    });
    const secret = 'TOKEN-do-not-log';
    await inner.put('inbox/a.yaml', text(`${yamlSpec('a')}description: ${secret}\n`));
    await inner.put('inbox/b.yaml', text(`version: 1\nname: [${secret}\n`));
    expect(await inbox.poll()).toEqual({ ingested: 0, rejected: 0, deferred: 2 });
    expect(await inner.get('inbox/a.yaml')).not.toBeNull();
    broken = false;
    expect(await inbox.poll()).toEqual({ ingested: 1, rejected: 1, deferred: 0 });
    expect(lines.length).toBeGreaterThan(0);
    expect(JSON.stringify(lines)).not.toContain(secret);
  });

  test("a spec's own idempotency key identifies it across file names; reusing it for another spec is refused", async () => {
    const { storage, inbox, runCount, machine } = setUp();
    const keyed = `${yamlSpec('keyed')}idempotencyKey: nightly-2026-11-22\n`;
    await storage.put('inbox/first.yaml', text(keyed));
    await storage.put('inbox/second.yaml', text(keyed));
    await storage.put('inbox/third.yaml', text(`${yamlSpec('other')}idempotencyKey: nightly-2026-11-22\n`));
    expect(await inbox.poll()).toEqual({ ingested: 2, rejected: 1, deferred: 0 });
    expect(runCount()).toBe(1);
    const [first, second] = [(await read(storage, 'inbox/processed/first.yaml.json'))!, (await read(storage, 'inbox/processed/second.yaml.json'))!];
    expect(second['runId']).toBe(first['runId']);
    expect([first['created'], second['created']]).toEqual([true, false]);
    expect(machine.run(String(first['runId']))!.idempotencyKey).toBe('nightly-2026-11-22');
    expect(await read(storage, 'inbox/rejected/third.yaml.reason.json')).toMatchObject({ code: 'CAIRN_IDEMPOTENCY_CONFLICT' });
  });

  test('the same bytes under the same name again return the first run', async () => {
    const { storage, inbox, runCount } = setUp();
    await storage.put('inbox/nightly.yaml', text(yamlSpec('nightly')));
    await inbox.poll();
    const first = (await read(storage, 'inbox/processed/nightly.yaml.json'))!;
    await storage.put('inbox/nightly.yaml', text(yamlSpec('nightly')));
    expect(await inbox.poll()).toEqual({ ingested: 1, rejected: 0, deferred: 0 });
    expect(runCount()).toBe(1);
    expect(await read(storage, 'inbox/processed/nightly.yaml.json')).toMatchObject({ runId: first['runId'], created: false });
  });

  test('uploads in progress, hidden files and the inbox’s own folders are left alone', async () => {
    const { storage, inbox, keys } = setUp();
    const untouched = [
      'inbox/.uploading.yaml',
      'inbox/big.yaml.part',
      'inbox/spec.yaml.TMP',
      'inbox/spec.yaml~',
      'inbox/.staging/x.yaml',
      'inbox/processed/x.json',
      'inbox/rejected/y.yaml',
      'inboxes/z.yaml',
      'other/w.yaml',
    ];
    for (const key of untouched) await storage.put(key, text('half'));
    expect(await inbox.poll()).toEqual({ ingested: 0, rejected: 0, deferred: 0 });
    expect(await keys()).toEqual([...untouched].sort());
  });

  test('many files, over several listing pages, all go in', async () => {
    const { storage, inner } = faultyStorage({ pageLimit: 100 });
    const { inbox, runCount } = setUp(storage);
    for (let index = 0; index < 250; index++) await inner.put(`inbox/spec-${String(index).padStart(3, '0')}.yaml`, text(yamlSpec(`n${index}`)));
    await inner.put('inbox/spec-zzz.txt', text('stray'));
    expect(await inbox.poll()).toEqual({ ingested: 250, rejected: 1, deferred: 0 });
    expect(runCount()).toBe(250);
    expect((await inner.list({ prefix: 'inbox/processed/' })).keys).toHaveLength(250);
  });

  test('a poll asked for while one is running joins it instead of taking the files twice', async () => {
    const { storage, inbox, runCount } = setUp();
    for (const name of ['a', 'b']) await storage.put(`inbox/${name}.yaml`, text(yamlSpec(name)));
    const [one, two] = await Promise.all([inbox.poll(), inbox.poll()]);
    expect(one).toEqual({ ingested: 2, rejected: 0, deferred: 0 });
    expect(two).toBe(one);
    expect(runCount()).toBe(2);
  });

  test('another prefix is read as a folder; an empty prefix or a bad maxBytes is refused', async () => {
    const { storage, inbox, runCount } = setUp(createInMemoryStorageProvider(), { prefix: 'drop' });
    await storage.put('drop/a.yaml', text(yamlSpec('a')));
    await storage.put('dropped/b.yaml', text(yamlSpec('b')));
    expect(await inbox.poll()).toEqual({ ingested: 1, rejected: 0, deferred: 0 });
    expect(runCount()).toBe(1);
    expect(await storage.get('drop/processed/a.yaml.json')).not.toBeNull();
    const submit = () => ({ runId: 'r', created: true });
    for (const settings of [{ prefix: '' }, { maxBytes: 0 }, { maxBytes: 1.5 }]) {
      let thrown: unknown;
      try {
        new InboxIngester({ storage, submit, ...settings });
      } catch (error) {
        thrown = error;
      }
      expect(isCairnError(thrown, 'CAIRN_CONFIG_INVALID')).toBe(true);
    }
  });
});
