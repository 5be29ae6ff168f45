import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '@cairn/core';
import { AuditLog, InboxIngester, openEngineDatabase, RunStateMachine, WorkingCopy } from '@cairn/engine/internals';
import { describe, expect, test } from 'vitest';
import { temporaryFolders } from '../testing/local.test-support.ts';
import { LocalStorageProvider } from './local-storage-provider.ts';

const temporaryFolder = temporaryFolders('cairn-inbox-strays-');
const spec = `version: 1\nname: nightly\nitems:\n  - { id: a, runtime: { kind: command, argv: [make] } }\n`;
const sha256Hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** The real directory storage and the real ingester over a temporary root; a spec beside the strays. */
function setUp() {
  const folder = temporaryFolder();
  const root = join(folder, 'store');
  const inboxFolder = join(root, 'inbox');
  mkdirSync(inboxFolder, { recursive: true });
  writeFileSync(join(inboxFolder, 'nightly.yaml'), spec);
  const storage = new LocalStorageProvider({ root });
  const database = openEngineDatabase(join(folder, 'engine.db'));
  const workingCopy = new WorkingCopy(database);
  const machine = new RunStateMachine(workingCopy, new AuditLog(workingCopy));
  const lines: { fields: Record<string, unknown>; message: string | undefined }[] = [];
  const at = (fields: Record<string, unknown>, message?: string) => void lines.push({ fields, message });
  const logger: Logger = { debug: at, info: at, warn: at, error: at };
  const inbox = new InboxIngester({ storage, submit: (text, options) => machine.submit(text, options), logger, now: () => Date.UTC(2026, 10, 23, 8) });
  return { folder, root, inboxFolder, storage, inbox, lines };
}

/** Asserts the entry named `rawName` left the inbox for `rejected/stray-<sha256>`, with its reason and a log line. */
async function expectSetAside(context: ReturnType<typeof setUp>, rawName: Buffer, kind: string) {
  const target = `inbox/rejected/stray-${sha256Hex(rawName)}`;
  expect(readdirSync(Buffer.from(context.inboxFolder), { encoding: 'buffer' }).some((name) => name.equals(rawName))).toBe(false);
  expect(existsSync(join(context.root, target)) || lstatSync(join(context.root, target), { throwIfNoEntry: false }) !== undefined).toBe(true);
  const reasonBytes = await context.storage.get(`${target}.reason.json`);
  expect(reasonBytes).not.toBeNull();
  const reason = JSON.parse(new TextDecoder().decode(reasonBytes!)) as Record<string, unknown>;
  expect(reason).toMatchObject({ kind, code: 'CAIRN_RUN_SPEC_INVALID', file: rawName.toString('utf8') });
  expect(reason.message).toContain(target);
  if (!Buffer.from(rawName.toString('utf8'), 'utf8').equals(rawName)) expect(reason.fileBase64).toBe(rawName.toString('base64'));
  const line = context.lines.find((entry) => entry.fields.movedTo === target);
  expect(line?.fields).toMatchObject({ kind, file: JSON.stringify(rawName.toString('utf8')) });
  // A printed name never carries a raw newline or control character into a log line.
  expect(String(line?.fields.file)).not.toMatch(/[\u0000-\u001f]/);
}

async function expectSpecIngested(context: ReturnType<typeof setUp>) {
  expect(existsSync(join(context.inboxFolder, 'nightly.yaml'))).toBe(false);
  expect(await context.storage.get('inbox/processed/nightly.yaml.json')).not.toBeNull();
}

describe('the inbox over the directory storage sets aside what it cannot ingest', () => {
  test('a symbolic link (to a secret outside the store) is moved as a link, never read, its target untouched', async () => {
    const context = setUp();
    const secret = join(context.folder, 'signing-key.pem');
    writeFileSync(secret, 'PRIVATE KEY');
    const before = statSync(secret);
    symlinkSync(secret, join(context.inboxFolder, 'key.yaml'));
    const poll = await context.inbox.poll();
    expect(poll).toMatchObject({ ingested: 1, rejected: 1 });
    const rawName = Buffer.from('key.yaml');
    await expectSetAside(context, rawName, 'symlink');
    const moved = join(context.root, `inbox/rejected/stray-${sha256Hex(rawName)}`);
    expect(lstatSync(moved).isSymbolicLink()).toBe(true);
    expect(readlinkSync(moved)).toBe(secret);
    expect(statSync(secret).atimeMs).toBe(before.atimeMs);
    expect(readFileSync(secret, 'utf8')).toBe('PRIVATE KEY');
    // The link's target is never named in a reason or a log line.
    const reason = new TextDecoder().decode((await context.storage.get(`inbox/rejected/stray-${sha256Hex(rawName)}.reason.json`))!);
    expect(reason).not.toContain('signing-key');
    expect(JSON.stringify(context.lines)).not.toContain('signing-key');
    await expectSpecIngested(context);
  });

  test('a FIFO is moved aside without blocking the poll', async () => {
    const context = setUp();
    execFileSync('mkfifo', [join(context.inboxFolder, 'pipe.yaml')]);
    const started = Date.now();
    const poll = await context.inbox.poll();
    expect(Date.now() - started).toBeLessThan(5000);
    expect(poll).toMatchObject({ ingested: 1, rejected: 1 });
    const rawName = Buffer.from('pipe.yaml');
    await expectSetAside(context, rawName, 'fifo');
    expect(lstatSync(join(context.root, `inbox/rejected/stray-${sha256Hex(rawName)}`)).isFIFO()).toBe(true);
    await expectSpecIngested(context);
  });

  test.each([
    ['a backslash', Buffer.from('back\\slash.yaml')],
    ['a newline', Buffer.from('new\nline.yaml')],
    ['a tab', Buffer.from('tab\t.yaml')],
    ['a control character', Buffer.from('bell\u0007.yaml')],
    ['invalid UTF-8', Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe, 0x2e, 0x79, 0x61, 0x6d, 0x6c])],
  ])('a file whose name holds %s is moved aside with its reason', async (_label, rawName) => {
    const context = setUp();
    writeFileSync(Buffer.concat([Buffer.from(`${context.inboxFolder}/`), rawName]), spec);
    const poll = await context.inbox.poll();
    expect(poll).toMatchObject({ ingested: 1, rejected: 1 });
    await expectSetAside(context, rawName, 'unnamed');
    // Moved, not copied: the bytes are kept under the new name, and nothing stays behind.
    expect(readFileSync(join(context.root, `inbox/rejected/stray-${sha256Hex(rawName)}`), 'utf8')).toBe(spec);
    await expectSpecIngested(context);
    // A second poll finds nothing left.
    expect(await context.inbox.poll()).toEqual({ ingested: 0, rejected: 0, deferred: 0 });
  });

  test("the provider's own names (temporary files, the alternate slot) are never strays", async () => {
    const context = setUp();
    await context.storage.put('inbox/folded', new TextEncoder().encode('x'));
    await context.storage.put('inbox/folded/inner', new TextEncoder().encode('y'));
    writeFileSync(join(context.inboxFolder, '.cairn\\tmp-123'), 'partial');
    expect(await context.storage.listStrays('inbox/')).toEqual([]);
    await context.inbox.poll();
    expect(existsSync(join(context.inboxFolder, '.cairn\\tmp-123'))).toBe(true);
    expect(readdirSync(join(context.root, 'inbox/rejected')).filter((name) => name.startsWith('stray-'))).toEqual([]);
  });
});
