// Replicas of the built `cairn serve` on one PostgreSQL database (ADR 0023), as a team runs them:
// three servers share the state; one runs the engine. It is killed (SIGKILL) at 20 seeded moments
// of a 500-item run: each time another replica runs the engine within 5 s, the tasks the killed one
// started finish under their supervisors and are re-attached (every item completes exactly once),
// an event stream that follows the run through whichever replica is alive resumes without a gap,
// and the run's evidence verifies offline.
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CairnEvent } from '@cairn/core';
import { afterEach, expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { createPostgresStateStore } from '../../../../packages/engine/src/store/postgres/postgres-state-store.ts';
import { createTestDatabase, type TestDatabase } from '../../../../packages/engine/src/store/postgres/postgres.test-support.ts';
import { useBuiltServer } from './built-server.test-support.ts';
import { sseEvents } from '../http/sse-events.test-support.ts';

const { cairn, initialised, serve } = useBuiltServer();
const databases: TestDatabase[] = [];
afterEach(async () => {
  for (const database of databases.splice(0)) await database.drop();
});

/** A seeded generator (mulberry32): the kill moments are the same in every run. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let value = Math.imul(state ^ (state >>> 15), 1 | state);
    value = (value + Math.imul(value ^ (value >>> 7), 61 | value)) ^ value;
    return ((value ^ (value >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function killed(server: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (server.exitCode !== null || server.signalCode !== null) return resolve();
    server.once('exit', () => resolve());
    server.kill('SIGKILL');
  });
}

test(
  'three replicas on PostgreSQL: the one running the engine killed at 20 seeded moments of a 500-item run; another takes over within 5 s each time, every item completed exactly once, events without a gap, the evidence verifies',
  { timeout: 600_000 },
  async () => {
    const database = await createTestDatabase();
    databases.push(database);
    const { directory, keyId, token } = await initialised();
    const { host, port, user, password, database: name } = database.settings;
    const configFile = join(directory, 'cairn.config.yaml');
    const config = parseYaml(readFileSync(configFile, 'utf8')) as { engine?: Record<string, unknown> };
    config.engine = { ...config.engine, concurrency: 16, state: { kind: 'postgres', host, port, user, password, database: name } };
    writeFileSync(configFile, stringifyYaml(config));
    const replicas: { base: string; server: ChildProcess }[] = [];
    for (let index = 0; index < 3; index++) replicas.push(await serve(directory));
    const authorization = { authorization: `Bearer ${token}` };
    const store = createPostgresStateStore(database.settings);
    const oracle = await database.client();
    const leaderPid = async () => {
      const leader = await store.leader(oracle);
      return leader.held ? leader.pid : null;
    };
    while ((await leaderPid()) === null) await sleep(50);

    const items = Array.from({ length: 500 }, (_, index) => ({
      id: `item-${index}`,
      runtime: { kind: 'command', argv: ['sh', '-c', `sleep 0.${index % 4}`] },
    }));
    const submitted = await fetch(`${replicas[1]!.base}/v1/runs`, {
      method: 'POST',
      headers: { ...authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ version: 1, name: 'failover', items }),
    });
    expect(submitted.status).toBe(201);
    const { runId } = (await submitted.json()) as { runId: string };

    // An event stream that follows the run through whichever replica answers, resuming from the
    // last event id it saw whenever the replica it reads dies under it.
    const seen: CairnEvent[] = [];
    let following = true;
    const follower = (async () => {
      let lastId = -1;
      while (following) {
        const replica = replicas.find((candidate) => candidate.server.exitCode === null && candidate.server.signalCode === null);
        if (!replica) {
          await sleep(50);
          continue;
        }
        try {
          const response = await fetch(`${replica.base}/v1/runs/${runId}/events`, { headers: { ...authorization, 'last-event-id': String(lastId) } });
          for await (const { id, event } of sseEvents(response.body!)) {
            if (id === undefined) continue;
            lastId = id;
            seen.push(event);
            if (event.type === 'run.state' && ['succeeded', 'failed', 'cancelled'].includes(event.state)) following = false;
            if (!following) break;
          }
        } catch {
          // The replica died under the stream: resume from another with the last id seen.
        }
      }
    })();

    const random = seeded(20261123);
    const takeovers: number[] = [];
    for (let kill = 0; kill < 20; kill++) {
      await sleep(200 + Math.floor(random() * 1_300));
      const pid = await leaderPid();
      const victim = replicas.find((replica) => replica.server.pid === pid);
      if (!victim) continue;
      await killed(victim.server);
      const killedAt = Date.now();
      while ((await leaderPid()) === null || (await leaderPid()) === pid) {
        expect(Date.now() - killedAt, `takeover ${kill + 1}`).toBeLessThan(5_000);
        await sleep(25);
      }
      takeovers.push(Date.now() - killedAt);
      // A replacement, so three replicas serve again.
      replicas.splice(replicas.indexOf(victim), 1, await serve(directory));
    }
    expect(takeovers.length).toBeGreaterThanOrEqual(15);
    console.log(`takeovers (ms): ${takeovers.join(', ')}`);
    await follower;

    const live = replicas.find((replica) => replica.server.exitCode === null)!;
    const run = (await (await fetch(`${live.base}/v1/runs/${runId}`, { headers: authorization })).json()) as { state: string };
    const stored = (await (await fetch(`${live.base}/v1/runs/${runId}/items`, { headers: authorization })).json()) as {
      itemId: string;
      state: string;
      failure: unknown;
    }[];
    // A run that did not succeed says which items failed and why, with their attempts.
    const failedItems = stored.filter((item) => item.state !== 'succeeded');
    const failedAttempts = await oracle.query(
      'SELECT item_id, attempt, state, failure, stop_reason FROM cairn.attempts WHERE run_id = $1 AND item_id = ANY($2)',
      [runId, failedItems.map((item) => item.itemId)],
    );
    expect(run.state, JSON.stringify({ failedItems, attempts: failedAttempts.rows }, null, 2)).toBe('succeeded');
    expect(stored.filter((item) => item.state === 'succeeded')).toHaveLength(500);
    // Every item completed exactly once. A task running when its server was killed finished under
    // its supervisor and was re-attached by the next leader; only a task whose supervisor the killed
    // server had not yet started is lost (the executor never ran it) and dispatched again.
    const { rows: attempts } = await oracle.query<{ item_id: string; state: string }>('SELECT item_id, state FROM cairn.attempts WHERE run_id = $1', [runId]);
    const succeeded = attempts.filter((attempt) => attempt.state === 'succeeded');
    expect(new Set(succeeded.map((attempt) => attempt.item_id)).size).toBe(500);
    expect(succeeded).toHaveLength(500);
    const others = attempts.filter((attempt) => attempt.state !== 'succeeded');
    expect(others.every((attempt) => attempt.state === 'lost')).toBe(true);
    expect(others.length).toBeLessThanOrEqual(takeovers.length);
    console.log(`attempts lost to a kill before their supervisor started: ${others.length} of ${attempts.length}`);
    // The stream saw every event of the run once, in order: the same as one read from the start
    // (a run's stream ends after its terminal state).
    const all = (await (await fetch(`${live.base}/v1/runs/${runId}/events`, { headers: authorization })).text())
      .split('\n')
      .filter((line) => line.startsWith('data: '))
      .map((line) => JSON.parse(line.slice(6)) as CairnEvent);
    expect(seen).toEqual(all);
    // The audit log is gapless, and the run's bundle verifies offline against the server's key.
    const { rows: gaps } = await oracle.query<{ size: string; entries: string }>('SELECT MAX(seq) + 1 AS size, COUNT(*) AS entries FROM cairn.audit_entries');
    expect(gaps[0]!.size).toBe(gaps[0]!.entries);
    const bundle = await fetch(`${live.base}/v1/runs/${runId}/bundle`, { headers: authorization });
    expect(bundle.status).toBe(200);
    const file = join(directory, 'failover.bundle.json');
    writeFileSync(file, new Uint8Array(await bundle.arrayBuffer()));
    const verified = await cairn(directory, ['--json', 'verify', file, '--trusted-key', keyId]);
    expect([verified.status, verified.stderr]).toEqual([0, '']);
    expect(JSON.parse(verified.stdout)).toMatchObject({ valid: true });
    for (const replica of replicas) await killed(replica.server);
  },
);
