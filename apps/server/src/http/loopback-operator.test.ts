// loopback-operator trusts the user the server runs as, not whatever reaches its port: an item
// with a network cannot reach the host's loopback at all, and another local user that calls the
// API to approve the run's gated item is refused and audited; the gate holds.
import { spawn } from 'node:child_process';
import { expect, test } from 'vitest';
import { runningServers } from './running-server.test-support.ts';

const start = runningServers();

// Run inside the sandbox with the system Node (node:http: fetch's WebAssembly parser needs more
// address space than a sandbox allows): find the run and approve its gated item.
const approveFromInside = `
import { request } from 'node:http';
const call = (method, path) => new Promise((resolve, reject) => {
  const outgoing = request(process.env.BASE + path, { method, headers: { 'content-type': 'application/json' } }, (answer) => {
    let body = '';
    answer.on('data', (chunk) => (body += chunk));
    answer.on('end', () => resolve({ status: answer.statusCode, body: JSON.parse(body || '{}') }));
  });
  outgoing.on('error', reject);
  outgoing.end(method === 'POST' ? '{}' : undefined);
});
const runs = await call('GET', '/v1/runs').catch((error) => {
  console.log('unreachable', error.code);
  process.exit(0);
});
console.log('list', runs.body.code ?? 'ok');
const runId = runs.body.runs?.[0]?.runId ?? 'unknown';
const approved = await call('POST', '/v1/runs/' + runId + '/items/gated/approve');
console.log('approve', approved.status);
`;

test('an item that reaches the loopback API cannot act as the operator: 403, audited, and its gated item still waits', { timeout: 60_000 }, async () => {
  if (process.getuid?.() !== 0) throw new Error('this test needs root: sandboxes run as their own uids');
  const { base, api, composition } = await start('loopback-operator');
  const { engine } = composition;
  const { runId } = engine.submit(
    {
      version: 1,
      name: 'self-approval',
      items: [
        {
          id: 'climber',
          network: true,
          env: { BASE: base },
          runtime: { kind: 'command', argv: ['/usr/bin/node', '--input-type=module', '-e', approveFromInside] },
        },
        { id: 'gated', dependsOn: [], effect: 'write-impure', approval: 'required', runtime: { kind: 'command', argv: ['/bin/true'] } },
      ],
    },
    { actor: { kind: 'user', id: 'operator', via: 'cli' } },
  );
  const climber = async () => {
    for (let tries = 0; tries < 200; tries++) {
      const item = engine.items(runId).find((candidate) => candidate.itemId === 'climber');
      if (item && ['succeeded', 'failed'].includes(item.state)) return item;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('the climber never ended');
  };
  const ended = await climber();
  const artifacts = engine.audit.runEntries(runId).find((entry) => entry.action === 'attempt.completed' && entry.entity.id.includes('climber'))?.data[
    'artifacts'
  ] as Record<string, string>;
  const blob = async (kind: string) =>
    artifacts[kind] ? Buffer.from((await composition.storage.get(`blobs/${artifacts[kind].slice('sha256:'.length)}`))!).toString('utf8') : '';
  const printed = await blob('stdout');
  expect(ended.state, `${printed}\n${await blob('stderr')}`).toBe('succeeded');
  // A networked sandbox has a network of its own: the host's loopback, the API on it, is not there.
  expect(printed).toMatch(/unreachable (ECONNREFUSED|ENETUNREACH)/);
  expect(engine.items(runId).find((item) => item.itemId === 'gated')?.state).toBe('awaiting-approval');

  // Another user of the machine reaching the loopback port is not the operator either: refused,
  // audited with its uid.
  // Not spawnSync: the server answering it runs in this process.
  const otherUser = await new Promise<{ stdout: string }>((resolve) => {
    const child = spawn(
      '/usr/bin/setpriv',
      ['--reuid=200999', '--regid=200999', '--clear-groups', '--', '/usr/bin/node', '--input-type=module', '-e', approveFromInside],
      { env: { BASE: base, PATH: '/usr/bin:/bin' } },
    );
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('close', () => resolve({ stdout }));
  });
  expect(otherUser.stdout).toContain('list CAIRN_FORBIDDEN');
  expect(otherUser.stdout).toContain('approve 403');
  expect(engine.items(runId).find((item) => item.itemId === 'gated')?.state).toBe('awaiting-approval');
  const denied = [...engine.audit.query({ action: 'access.denied' })];
  expect(denied.map((entry) => entry.actor.id)).toEqual(expect.arrayContaining(['uid:200999']));
  expect(denied.every((entry) => entry.actor.id !== 'operator')).toBe(true);

  // The operator itself (the server's user: this test) still is the operator.
  expect((await api(`/v1/runs/${runId}/items/gated/approve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(
    202,
  );
  expect((await engine.waitForRun(runId)).state).toBe('succeeded');
});
