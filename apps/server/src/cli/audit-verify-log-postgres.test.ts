// `cairn audit verify-log` on a server whose engine state is in PostgreSQL (engine.state): the log
// is read from the database, checked against every checkpoint with the server's key; then an entry
// edited in the database fails the check, naming the 16 entries it is among.
import { expect, test } from 'vitest';
import { createTestDatabase } from '../../../../packages/engine/src/store/postgres/postgres.test-support.ts';
import { runningServers } from '../http/running-server.test-support.ts';
import { runCli } from './run-cli.test-support.ts';

const start = runningServers();

interface Verified {
  valid: boolean;
  entriesChecked: number;
  checkpointsChecked: number;
  failure?: { seq?: number; detail: string };
}

test('the whole log in PostgreSQL verifies against its checkpoints; an entry edited there fails, named among its 16', { timeout: 120_000 }, async () => {
  const database = await createTestDatabase();
  try {
    const { directory, api } = await start('tokens', { config: { engine: { state: database.settings } } });
    const verifyLog = async () => {
      const result = await runCli(['--json', 'audit', 'verify-log'], { cwd: directory });
      expect([0, 1], result.stderr).toContain(result.status);
      return { status: result.status, report: JSON.parse(result.stdout) as Verified };
    };
    const submitted = await api('/v1/runs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        version: 1,
        name: 'logged',
        // Enough items for a log of more than 16 entries: a stored subtree to locate the edit by.
        items: ['one', 'two', 'three'].map((id) => ({ id, runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo hi'] } })),
      }),
    });
    expect(submitted.ok, await submitted.clone().text()).toBe(true);
    // The run's end is checkpointed: wait until a checkpoint covers part of the log.
    let verified = await verifyLog();
    for (let tries = 0; verified.report.checkpointsChecked === 0 && tries < 200; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      verified = await verifyLog();
    }
    expect(verified.status).toBe(0);
    expect(verified.report).toMatchObject({ valid: true });
    expect(verified.report.checkpointsChecked).toBeGreaterThan(0);
    expect(verified.report.entriesChecked).toBeGreaterThanOrEqual(16);

    const client = await database.client();
    try {
      // The last entry of the first 16: the check reads the subtree over them right after it.
      const { rows } = await client.query<{ body: string }>('SELECT body FROM cairn.audit_entries WHERE seq = 15');
      const edited = { ...(JSON.parse(rows[0]!.body) as object), time: '2020-01-01T00:00:00.000Z' };
      await client.query('UPDATE cairn.audit_entries SET body = $1 WHERE seq = 15', [JSON.stringify(edited)]);
      const tampered = await verifyLog();
      expect(tampered.status).toBe(1);
      expect(tampered.report).toMatchObject({
        valid: false,
        failure: { seq: 0, detail: expect.stringMatching(/^entries 0\.\.15 do not hash to the subtree the log stored over them .* was edited$/) },
      });
    } finally {
      await client.end();
    }
  } finally {
    await database.drop();
  }
});
