// The runners executor's routes (ADR 0050) on a real server: a token whose only scope is
// `runners:run` polls for the attempts of items on the `runners` executor (their labels, secrets
// and manifest digest in the lease), reports their exits, and can do nothing else; a token without
// the scope cannot poll. The runner here is the test itself, speaking the protocol over real HTTP.
import { expect, test } from 'vitest';
import { runningServers } from '../../http/running-server.test-support.ts';

const start = runningServers();

async function serverWithRunners() {
  const server = await start('tokens', { config: { runners: { enabled: true, leaseSeconds: 10 } } });
  const runnerToken = (await server.composition.tokens.create('build-1', ['runners:run'])).token;
  await server.composition.engine.setSecret('API_KEY', 'runner-secret-value', { kind: 'user', id: 'admin', via: 'cli' });
  const as = (token: string) => (path: string, body: unknown) =>
    fetch(`${server.base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  return { ...server, runner: as(runnerToken), runnerToken };
}

const poll = (extra: Record<string, unknown> = {}) => ({ version: '0.1.0', labels: ['gpu', 'pool=build'], slots: 2, held: [], waitMs: 0, ...extra });

test('a runner token polls for the attempts of items on runners, with their labels and secrets, and reports their exits', { timeout: 60_000 }, async () => {
  const { runner, composition, api, base } = await serverWithRunners();
  const submitted = await api('/v1/runs', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      version: 1,
      name: 'on-runners',
      items: [{ id: 'train', executor: 'runners', runsOn: { labels: ['gpu'] }, secrets: ['API_KEY'], runtime: { kind: 'command', argv: ['true'] } }],
    }),
  });
  expect(submitted.status, await submitted.clone().text()).toBe(201);
  const { runId } = (await submitted.json()) as { runId: string };
  // A runner without the label is offered nothing; one with it gets the lease.
  const unlabelled = await runner('/v1/runner/poll', poll({ labels: ['cpu'] }));
  expect(unlabelled.status).toBe(200);
  expect(((await unlabelled.json()) as { leases: unknown[] }).leases).toEqual([]);
  // The engine dispatches on its own loop: the lease is there once it has.
  let leases: { executionId: string; labels: string[]; task: { manifestDigest: string; secrets?: Record<string, string> } }[] = [];
  for (let tries = 0; tries < 100 && leases.length === 0; tries++) {
    const answer = (await (await runner('/v1/runner/poll', poll({ waitMs: 200 }))).json()) as { leases: typeof leases; leaseMs: number };
    leases = answer.leases;
    expect(answer.leaseMs).toBe(10_000);
  }
  expect(leases).toHaveLength(1);
  const [lease] = leases;
  expect(lease).toMatchObject({ executionId: `${runId}/train/1`, labels: ['gpu'], task: { secrets: { API_KEY: 'runner-secret-value' } } });
  expect(lease!.task.manifestDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
  // Another runner cannot report it: the lease is not its own.
  const otherRunner = (await composition.tokens.create('build-2', ['runners:run'])).token;
  const stolen = await fetch(`${base}/v1/runner/exits`, {
    method: 'POST',
    headers: { authorization: `Bearer ${otherRunner}`, 'content-type': 'application/json' },
    body: JSON.stringify({ exits: [{ executionId: lease!.executionId, status: { state: 'exited', outcome: 'succeeded', exitCode: 0 } }] }),
  });
  expect(((await stolen.json()) as { refused: { executionId: string; reason: string }[] }).refused).toEqual([
    { executionId: lease!.executionId, reason: expect.stringContaining('not held by this runner') },
  ]);
  // Its exit, reported by the runner that holds it, ends the attempt.
  const exits = await runner('/v1/runner/exits', {
    exits: [{ executionId: lease!.executionId, status: { state: 'exited', outcome: 'failed', exitCode: 3, reason: 'stopped by the test' } }],
  });
  expect(await exits.json()).toEqual({ accepted: [lease!.executionId], refused: [] });
  const run = await composition.engine.waitForRun(runId);
  expect(run.state).toBe('failed');
  expect(composition.engine.attempts(runId, 'train').map((attempt) => attempt.exitCode)).toEqual([3]);
});

test('an exit carried by a poll ends the attempt; the answer says it was taken', { timeout: 60_000 }, async () => {
  const { runner, composition, api } = await serverWithRunners();
  const submitted = await api('/v1/runs', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ version: 1, name: 'carried', items: [{ id: 'a', executor: 'runners', runtime: { kind: 'command', argv: ['true'] } }] }),
  });
  const { runId } = (await submitted.json()) as { runId: string };
  let leases: { executionId: string }[] = [];
  for (let tries = 0; tries < 100 && leases.length === 0; tries++)
    leases = ((await (await runner('/v1/runner/poll', poll({ waitMs: 200 }))).json()) as { leases: typeof leases }).leases;
  const executionId = leases[0]!.executionId;
  const exits = [{ executionId, status: { state: 'exited', outcome: 'failed', exitCode: 4 } }];
  // No free slot: answered at once, with what became of the exit.
  const answered = await runner('/v1/runner/poll', poll({ slots: 0, waitMs: 20_000, exits }));
  expect(answered.status).toBe(200);
  expect(await answered.json()).toMatchObject({ leases: [], exits: { accepted: [executionId], refused: [] } });
  expect((await composition.engine.waitForRun(runId)).state).toBe('failed');
  expect(composition.engine.attempts(runId, 'a').map((attempt) => attempt.exitCode)).toEqual([4]);
  // A runner's word is never a result record, carried by a poll or not.
  const withRecord = await runner('/v1/runner/poll', poll({ exits: [{ executionId, status: { ...exits[0]!.status, result: null } }] }));
  expect(withRecord.status).toBe(400);
});

test('a runner token can do nothing else, and a token without runners:run cannot poll', { timeout: 60_000 }, async () => {
  const { base, runnerToken, operatorToken, composition } = await serverWithRunners();
  const get = (path: string, token: string) => fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
  expect((await get('/v1/runs', runnerToken)).status).toBe(403);
  expect((await get('/v1/audit', runnerToken)).status).toBe(403);
  const submit = await fetch(`${base}/v1/runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${runnerToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ version: 1, name: 'x', items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] } }] }),
  });
  expect(submit.status).toBe(403);
  const reader = (await composition.tokens.create('reader', ['runs:read'])).token;
  const denied = await fetch(`${base}/v1/runner/poll`, {
    method: 'POST',
    headers: { authorization: `Bearer ${reader}`, 'content-type': 'application/json' },
    body: JSON.stringify(poll()),
  });
  expect(denied.status).toBe(403);
  expect(((await denied.json()) as { message: string }).message).toContain('runners:run');
  // The operator (admin) is not a runner either way: admin allows every action, this one included.
  expect(operatorToken).not.toBe(runnerToken);
});

test('without runners.enabled, no runner route answers and an item naming the runners executor is refused', { timeout: 60_000 }, async () => {
  const { base, api, composition } = await start();
  const runnerToken = (await composition.tokens.create('build-1', ['runners:run'])).token;
  const polled = await fetch(`${base}/v1/runner/poll`, {
    method: 'POST',
    headers: { authorization: `Bearer ${runnerToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(poll()),
  });
  expect(polled.status).toBe(404);
  const submitted = await api('/v1/runs', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ version: 1, name: 'x', items: [{ id: 'a', executor: 'runners', runtime: { kind: 'command', argv: ['true'] } }] }),
  });
  expect(submitted.status).toBe(400);
  expect(((await submitted.json()) as { path: string }).path).toBe('$.items[0].executor');
});

test('a runner of another minor version is refused with both versions named', { timeout: 60_000 }, async () => {
  const { runner } = await serverWithRunners();
  const refused = await runner('/v1/runner/poll', poll({ version: '0.2.0' }));
  expect(refused.status).toBe(409);
  expect(await refused.json()).toMatchObject({ code: 'CAIRN_RUNNER_VERSION', message: expect.stringContaining('"0.2.0"') });
  // Another patch of the same minor version is served.
  expect((await runner('/v1/runner/poll', poll({ version: '0.1.9' }))).status).toBe(200);
});
