// A server on PostgreSQL whose every connection the database ends at once (a failover, an
// administrator's pg_terminate_backend): no request is answered 500 and the process goes on; the
// answers while it reconnects are 503 CAIRN_STATE_UNAVAILABLE, and then runs are taken and finish.
import { expect, test } from 'vitest';
import { createTestDatabase } from '../../../../packages/engine/src/store/postgres/postgres.test-support.ts';
import { runningServers } from './running-server.test-support.ts';

const start = runningServers();
const oneItem = JSON.stringify({ version: 1, name: 'after', items: [{ id: 'say', runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo hi'] } }] });

test('every connection ended at once: requests are answered 2xx or 503, never 500, and the next runs finish', { timeout: 120_000 }, async () => {
  const database = await createTestDatabase();
  try {
    const { api } = await start('tokens', { config: { engine: { state: database.settings } } });
    const submit = () => api('/v1/runs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: oneItem });
    expect((await submit()).status).toBe(201);
    const oracle = await database.client();
    const answers: { status: number; code?: string }[] = [];
    const ask = async (request: Promise<Response>) => {
      const response = await request;
      const body = (await response.json()) as { code?: string };
      answers.push({ status: response.status, ...(response.status >= 400 ? { code: body.code } : {}) });
    };
    // The server's sessions but those already ended: an ended one may still be listed while it exits.
    const serverSessions = `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'cairn-%' AND pid <> ALL($1::int[])`;
    const endedPids: number[] = [];
    for (let round = 0; round < 5; round++) {
      // The server has connected again since the last round (it does so when it next needs to).
      await expect.poll(async () => (await oracle.query(serverSessions, [endedPids])).rowCount, { timeout: 30_000 }).toBeGreaterThan(0);
      // Requests in flight while the connections end, each kind of connection among them.
      const asked = [ask(submit()), ask(api('/v1/runs')), ask(submit()), ask(api('/v1/runs?limit=5'))];
      const ended = await oracle.query<{ pid: number }>(`SELECT pid, pg_terminate_backend(pid) FROM (${serverSessions}) AS sessions`, [endedPids]);
      expect(ended.rowCount).toBeGreaterThan(0);
      endedPids.push(...ended.rows.map((row) => row.pid));
      await Promise.all(asked);
    }
    for (const answer of answers) {
      if (answer.status >= 400) expect(answer).toEqual({ status: 503, code: 'CAIRN_STATE_UNAVAILABLE' });
      else expect([200, 201]).toContain(answer.status);
    }
    // Once the replica has its connections (and the lease) again, a run is taken and finishes.
    let runId: string | undefined;
    for (let tries = 0; runId === undefined && tries < 200; tries++) {
      const response = await submit();
      if (response.status === 201) runId = ((await response.json()) as { runId: string }).runId;
      else await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(runId).toBeDefined();
    await expect
      .poll(async () => ((await (await api(`/v1/runs/${runId}`)).json()) as { state: string }).state, { timeout: 30_000, interval: 100 })
      .toBe('succeeded');
  } finally {
    await database.drop();
  }
});
