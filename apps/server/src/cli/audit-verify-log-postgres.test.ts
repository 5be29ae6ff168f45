// `cairn audit verify-log` on a server whose engine state is in PostgreSQL (engine.state): the log
// is read from the database, checked against every checkpoint with the server's key; then an entry
// edited in the database fails the check, naming its seq.
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

test('the whole log in PostgreSQL verifies against its checkpoints; an entry edited there fails at its seq', { timeout: 120_000 }, async () => {
  const database = await createTestDatabase();
  try {
    const { directory, api } = await start('tokens', { config: { engine: { state: database.settings } } });
    const verifyLog = async () => {
      const result = await runCli(['--json', 'audit', 'verify-log'], { cwd: directory });
      expect([0, 1], result.stderr).toContain(result.status);
      return { status: result.status, report: JSON.parse(result.stdout) as Verified };
    };
    const submitted = (await (
      await api('/v1/runs', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ version: 1, name: 'logged', items: [{ id: 'say', runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo hi'] } }] }),
      })
    ).json()) as { runId: string };
    // The run's end is checkpointed: wait until a checkpoint covers part of the log.
    let verified = await verifyLog();
    for (let tries = 0; verified.report.checkpointsChecked === 0 && tries < 200; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      verified = await verifyLog();
    }
    expect(verified.status).toBe(0);
    expect(verified.report).toMatchObject({ valid: true });
    expect(verified.report.checkpointsChecked).toBeGreaterThan(0);
    expect(verified.report.entriesChecked).toBeGreaterThan(3);

    const client = await database.client();
    try {
      const { rows } = await client.query<{ seq: number }>("SELECT seq::int AS seq FROM cairn.audit_entries WHERE run_id = $1 AND action = 'run.submitted'", [
        submitted.runId,
      ]);
      const seq = rows[0]!.seq;
      await client.query(`UPDATE cairn.audit_entries SET body = replace(body, '"items":1', '"items":2') WHERE seq = $1`, [seq]);
      const tampered = await verifyLog();
      expect(tampered.status).toBe(1);
      expect(tampered.report).toMatchObject({ valid: false, failure: { seq, detail: expect.stringContaining('was edited') } });
    } finally {
      await client.end();
    }
  } finally {
    await database.drop();
  }
});
