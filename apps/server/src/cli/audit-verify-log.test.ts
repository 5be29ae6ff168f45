// `cairn audit verify-log` on a real server's data directory: init, a run through the engine, then
// the whole log checked against every checkpoint (and, --online, the anchor); then the database
// edited by hand, which fails naming the entries the edited one is among.
import { chmodSync, cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditLeafHash, perfectTreeHash } from '@cairn/audit';
import type { AuditEntry } from '@cairn/core';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { composeServer } from '../composition/compose-server.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { initServer } from './init-server.ts';
import { runCli } from './run-cli.test-support.ts';

const scratch = mkdtempSync(join(tmpdir(), 'cairn-verify-log-'));
chmodSync(scratch, 0o711);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const cairn = (args: string[], cwd: string) => runCli(args, { cwd });

interface Verified {
  valid: boolean;
  entriesChecked: number;
  checkpointsChecked: number;
  anchorsRead: number;
  uncoveredEntries: number;
  failure?: { seq?: number; treeSize?: number; detail: string };
}

let directory: string;
let database: string;

beforeAll(async () => {
  directory = join(scratch, 'server');
  await initServer(directory);
  const loaded = loadServerConfig({ directory, env: { CAIRN_SANDBOX: 'none' } });
  database = loaded.paths.database;
  const composition = await composeServer(loaded);
  try {
    composition.engine.start();
    for (const name of ['first', 'second']) {
      const { runId } = composition.engine.submit(
        { version: 1, name, items: [{ id: 'hello', runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo hello > hello.txt'] } }] },
        { actor: { kind: 'user', id: 'ana', via: 'cli' } },
      );
      expect((await composition.engine.waitForRun(runId)).state).toBe('succeeded');
      // Exporting issues and anchors the run's checkpoint now, as `cairn audit bundle` would.
      await composition.engine.exportBundle(runId);
    }
  } finally {
    await composition.close();
  }
}, 60_000);

test('an untouched log verifies: every entry, every checkpoint, and with --online the anchor', { timeout: 60_000 }, async () => {
  const [offline, online, text] = await Promise.all([
    cairn(['--json', 'audit', 'verify-log'], directory),
    cairn(['--json', 'audit', 'verify-log', '--online'], directory),
    cairn(['audit', 'verify-log', '--online'], directory),
  ]);
  expect(offline.status, offline.stderr).toBe(0);
  const checked = JSON.parse(offline.stdout) as Verified;
  const reader = new Database(database, { readonly: true });
  const size = (reader.prepare('SELECT COUNT(*) AS n FROM audit_entries').get() as { n: number }).n;
  reader.close();
  expect(checked).toMatchObject({ valid: true, entriesChecked: size, anchorsRead: 0 });
  expect(checked.checkpointsChecked).toBeGreaterThanOrEqual(2);
  expect(online.status, online.stderr).toBe(0);
  expect(JSON.parse(online.stdout) as Verified).toMatchObject({ valid: true, entriesChecked: size, anchorsRead: expect.any(Number) });
  expect((JSON.parse(online.stdout) as Verified).anchorsRead).toBeGreaterThanOrEqual(2);
  expect(text.stdout).toMatch(
    /^valid: true\nentries checked: \d+ .*\ncheckpoints: (\d+) verified, 0 failed, 0 not checked, of \1 .*\nanchors read: \d+ \(file:/,
  );
  // Then each checkpoint on a line of its own, with its result.
  expect(text.stdout).toMatch(/^ {2}checkpoint at tree size \d+: verified \(held by 1 anchor\)$/m);
  // Outside a server folder there is no log to check: bad input.
  expect((await cairn(['audit', 'verify-log'], scratch)).status).toBe(2);
});

test(
  'an entry edited in the database fails, naming the 16 entries it is among; with their stored subtree edited too, the checkpoint it breaks',
  { timeout: 60_000 },
  async () => {
    const copy = join(scratch, 'tampered');
    // Work on a copy of the server folder, so the untouched log stays for the other test.
    cpSync(directory, copy, { recursive: true });
    const db = new Database(join(copy, 'cairn-data', 'cairn.db'));
    try {
      // The last entry of the first 16: the check reads the subtree over them right after it.
      const row = db.prepare('SELECT body FROM audit_entries WHERE seq = 15').get() as { body: string };
      const entry = JSON.parse(row.body) as AuditEntry;
      const edited: AuditEntry = { ...entry, time: '2020-01-01T00:00:00.000Z' };
      db.prepare('UPDATE audit_entries SET body = ? WHERE seq = 15').run(JSON.stringify(edited));
      const result = await cairn(['--json', 'audit', 'verify-log'], copy);
      expect(result.status).toBe(1);
      expect(JSON.parse(result.stdout) as Verified).toMatchObject({
        valid: false,
        entriesChecked: 16,
        failure: { seq: 0, detail: expect.stringContaining('entries 0..15 do not hash to the subtree the log stored over them') },
      });
      const text = await cairn(['audit', 'verify-log'], copy);
      expect(text.stdout).toMatch(/^first failure at seq 0: entries 0\.\.15 /m);

      // The stored subtree rewritten to match: the signed root of the first checkpoint over seq 15 still catches it.
      const bodies = db.prepare('SELECT body FROM audit_entries WHERE seq < 16 ORDER BY seq').all() as { body: string }[];
      const subtree = perfectTreeHash(bodies.map((stored) => auditLeafHash(JSON.parse(stored.body) as AuditEntry)));
      expect(db.prepare('UPDATE merkle_nodes SET hash = ? WHERE level = 4 AND idx = 0').run(Buffer.from(subtree)).changes).toBe(1);
      const covering = (db.prepare('SELECT MIN(tree_size) AS size FROM checkpoints WHERE tree_size > 15').get() as { size: number }).size;
      const byRoot = JSON.parse((await cairn(['--json', 'audit', 'verify-log'], copy)).stdout) as Verified;
      expect(byRoot).toMatchObject({
        valid: false,
        failure: { treeSize: covering, detail: expect.stringMatching(new RegExp(`^entries \\d+\\.\\.${covering - 1} do not recompute the signed root`)) },
      });
    } finally {
      db.close();
    }
  },
);

test('with --online, an anchor that lost a checkpoint fails naming the anchor and the tree size', { timeout: 60_000 }, async () => {
  const copy = join(scratch, 'lost-anchor');
  cpSync(directory, copy, { recursive: true });
  const folder = join(copy, 'cairn-data', 'anchor', 'cairn%3Aserver');
  const receipt = readdirSync(folder)
    .filter((name) => name.endsWith('.receipt.json'))
    .sort()[0]!;
  rmSync(join(folder, receipt));
  const result = await cairn(['--json', 'audit', 'verify-log', '--online'], copy);
  expect(result.status).toBe(1);
  const treeSize = Number(receipt.slice(0, 20));
  expect(JSON.parse(result.stdout) as Verified).toMatchObject({
    valid: false,
    failure: {
      treeSize,
      detail: expect.stringContaining(`file:${join(copy, 'cairn-data', 'anchor')} holds no checkpoint of cairn:server at tree size ${treeSize}`),
    },
  });
});
