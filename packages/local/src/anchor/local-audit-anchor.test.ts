import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AnchorCheckpoint } from '@cairn/core';
import { describeAuditAnchor } from '@cairn/conformance';
import { isCairnError, type CairnError } from '@cairn/protocol';
import { describe, expect, test } from 'vitest';
import { createLocalAuditAnchor } from './local-audit-anchor.ts';
import { rejection, temporaryFolders } from '../testing/local.test-support.ts';

describeAuditAnchor({
  name: 'local file anchor',
  create: () => createLocalAuditAnchor({ directory: mkdtempSync(join(tmpdir(), 'cairn-local-anchor-')) }),
  // The receipt's location is the envelope file: read and overwritten with node:fs, as someone
  // holding the machine would (the file is read-only, which slows an accident, not an attacker).
  oracle: () => ({
    readRaw: async (location) => {
      try {
        return new Uint8Array(await readFile(location));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
    },
    writeRaw: async (location, bytes) => {
      await chmod(location, 0o644);
      await writeFile(location, bytes);
    },
  }),
  cleanup: (anchor) => rm(anchor.directory, { recursive: true, force: true }),
});

const origin = 'cairn:test.server';

function checkpoint(treeSize: number, salt = ''): AnchorCheckpoint {
  const rootHash = createHash('sha256').update(`root ${treeSize} ${salt}`).digest('hex');
  return { origin, treeSize, rootHash, envelope: new TextEncoder().encode(`{"payload":"${treeSize} ${salt}"}`) };
}

describe('LocalAuditAnchor', () => {
  const directory = temporaryFolders('cairn-local-anchor-own-');
  const folderOf = (root: string) => join(root, 'cairn%3Atest%2Eserver');

  test.each([
    [{}, 'local.anchor.directory'],
    [{ directory: '' }, 'local.anchor.directory'],
    [{ directory: '/tmp/a', guarantee: 'external-immutable' }, 'local.anchor.guarantee'],
  ])('settings %j are refused with CAIRN_CONFIG_INVALID naming %s', (settings, path) => {
    let thrown: unknown;
    try {
      createLocalAuditAnchor(settings as never);
    } catch (error) {
      thrown = error;
    }
    expect(isCairnError(thrown, 'CAIRN_CONFIG_INVALID')).toBe(true);
    expect((thrown as CairnError).path).toBe(path);
    expect((thrown as CairnError).message).toContain(path);
  });

  test('lays out one folder per origin: write-once envelope and receipt files (0444) and an append-only journal', async () => {
    const root = directory();
    const anchor = createLocalAuditAnchor({ directory: root });
    const first = await anchor.anchor(checkpoint(1));
    const second = await anchor.anchor(checkpoint(2));
    const folder = folderOf(root);
    const digestHex = (value: AnchorCheckpoint) => createHash('sha256').update(value.envelope).digest('hex');
    expect(readdirSync(folder).sort()).toEqual(
      [
        'anchored.jsonl',
        `00000000000000000001-${digestHex(checkpoint(1))}.dsse`,
        '00000000000000000001.receipt.json',
        `00000000000000000002-${digestHex(checkpoint(2))}.dsse`,
        '00000000000000000002.receipt.json',
      ].sort(),
    );
    expect(first.location).toBe(join(folder, `00000000000000000001-${digestHex(checkpoint(1))}.dsse`));
    expect(statSync(first.location).mode & 0o777).toBe(0o444);
    expect(statSync(join(folder, '00000000000000000001.receipt.json')).mode & 0o777).toBe(0o444);
    const journal = readFileSync(join(folder, 'anchored.jsonl'), 'utf8').trimEnd().split('\n');
    expect(journal.map((line) => JSON.parse(line))).toEqual([first, second]);
    // A retry adds no line: the journal holds each anchoring once.
    await anchor.anchor(checkpoint(2));
    expect(readFileSync(join(folder, 'anchored.jsonl'), 'utf8').trimEnd().split('\n')).toHaveLength(2);
  });

  test('a restarted anchor reads what an earlier one anchored, and refuses a conflicting root', async () => {
    const root = directory();
    const receipt = await createLocalAuditAnchor({ directory: root }).anchor(checkpoint(5));
    const restarted = createLocalAuditAnchor({ directory: root });
    expect((await restarted.read(checkpoint(5)))?.receipt).toEqual(receipt);
    const error = await rejection(restarted.anchor(checkpoint(5, 'forged')));
    expect(error.code).toBe('CAIRN_ANCHOR_CONFLICT');
    expect(error.message).toContain('tree size 5');
  });

  test('two instances (as two processes) anchoring different roots at one size: exactly one wins', async () => {
    const root = directory();
    const [left, right] = [createLocalAuditAnchor({ directory: root }), createLocalAuditAnchor({ directory: root })];
    const settled = await Promise.allSettled([left.anchor(checkpoint(9, 'left')), right.anchor(checkpoint(9, 'right'))]);
    expect(settled.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    const loser = settled.find((result) => result.status === 'rejected') as PromiseRejectedResult;
    expect(isCairnError(loser.reason, 'CAIRN_ANCHOR_CONFLICT')).toBe(true);
    expect(
      readdirSync(folderOf(root)).filter((name) => name.endsWith('.dsse')),
      "the loser's envelope is not left behind",
    ).toHaveLength(1);
  });

  test('an edited receipt file disagrees with the journal and is refused', async () => {
    const root = directory();
    const anchor = createLocalAuditAnchor({ directory: root });
    const receipt = await anchor.anchor(checkpoint(3));
    const path = join(folderOf(root), '00000000000000000003.receipt.json');
    chmodSync(path, 0o644);
    // A well-formed receipt, canonical and all, with another time: only the journal knows.
    const edited = readFileSync(path, 'utf8').replace(receipt.anchoredAt, '2000-01-01T00:00:00.000Z');
    writeFileSync(path, edited);
    const error = await rejection(anchor.read(checkpoint(3)));
    expect(error.code).toBe('CAIRN_ANCHOR_TAMPERED');
    expect(error.message).toContain('journal');
    writeFileSync(path, 'not json');
    expect((await rejection(anchor.read(checkpoint(3)))).code).toBe('CAIRN_ANCHOR_TAMPERED');
  });

  test('a deleted envelope is refused; a crash before the journal line is repaired by the retry', async () => {
    const root = directory();
    const anchor = createLocalAuditAnchor({ directory: root });
    const receipt = await anchor.anchor(checkpoint(4));
    unlinkSync(join(folderOf(root), 'anchored.jsonl'));
    expect((await anchor.read(checkpoint(4)))?.receipt, 'no journal line yet is not tampering').toEqual(receipt);
    expect(await anchor.anchor(checkpoint(4))).toEqual(receipt);
    expect(readFileSync(join(folderOf(root), 'anchored.jsonl'), 'utf8')).toContain(receipt.envelopeDigest);
    unlinkSync(receipt.location);
    const error = await rejection(anchor.read(checkpoint(4)));
    expect(error.code).toBe('CAIRN_ANCHOR_TAMPERED');
    expect(error.message).toContain('gone');
  });

  test('an origin is a folder name that cannot climb out of the directory', async () => {
    const root = directory();
    const anchor = createLocalAuditAnchor({ directory: root });
    for (const name of ['..', '../../etc', 'a/b', '.', 'x'.repeat(300)]) {
      const value = { ...checkpoint(1), origin: name };
      await anchor.anchor(value);
      expect((await anchor.read(value))?.receipt.origin).toBe(name);
    }
    expect(readdirSync(root).sort()).toEqual(
      ['%2E', '%2E%2E', '%2E%2E%2F%2E%2E%2Fetc', `+sha256-${createHash('sha256').update('x'.repeat(300)).digest('hex')}`, 'a%2Fb'].sort(),
    );
  });

  test('a malformed checkpoint is refused before anything is written', async () => {
    const root = directory();
    const anchor = createLocalAuditAnchor({ directory: root });
    for (const value of [
      { ...checkpoint(1), treeSize: -1 },
      { ...checkpoint(1), treeSize: 1.5 },
      { ...checkpoint(1), rootHash: 'ABC' },
      { ...checkpoint(1), origin: '' },
    ]) {
      expect((await rejection(anchor.anchor(value))).code).toBe('CAIRN_PAYLOAD_INVALID');
    }
    expect(readdirSync(root)).toEqual([]);
  });
});
