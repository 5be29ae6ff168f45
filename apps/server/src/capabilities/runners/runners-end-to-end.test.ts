// Runners end to end (ADR 0050): a real server with `runners.enabled`, and `cairn runner` daemons
// dialing out to it with `runners:run` tokens, running leased attempts in bubblewrap sandboxes with
// their storage through the server. Items choose runners by label; a run's patches, logs and
// evidence come back as from the local executor.
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRunner, type Runner } from '@cairn/runner';
import { afterEach, expect, test } from 'vitest';
import { runningServers } from '../../http/running-server.test-support.ts';

const start = runningServers();
const runners: Runner[] = [];
afterEach(async () => {
  for (const runner of runners.splice(0)) await runner.stop();
});

/** A runner daemon in this process (its own work root, state and sandbox uids), dialing `base` with a new runners:run token. */
async function startRunner(server: Awaited<ReturnType<typeof start>>, name: string, labels: string[], uids: number): Promise<Runner> {
  const token = (await server.composition.tokens.create(name, ['runners:run'])).token;
  const folder = mkdtempSync(join(tmpdir(), `cairn-runner-${name}-`));
  // Sandboxes start as their own uids and must pass through to their workspaces.
  chmodSync(folder, 0o711);
  const runner = createRunner({
    server: server.base,
    token,
    labels,
    slots: 2,
    trustedKeys: [server.composition.signingKey],
    workRoot: join(folder, 'work'),
    stateDirectory: join(folder, 'state'),
    uids: { first: uids, count: 16 },
    pollWaitMs: 2_000,
    reconnect: { firstMs: 100, maxMs: 1_000 },
  });
  runners.push(runner);
  await runner.start();
  return runner;
}

test(
  "items on the runners executor run on the runners whose labels fit, their patches, logs and secrets as on the server's own host",
  { timeout: 120_000 },
  async () => {
    const server = await start('tokens', { config: { runners: { enabled: true, leaseSeconds: 10 } } });
    await server.composition.engine.setSecret('API_KEY', 'runner-secret-value', { kind: 'user', id: 'admin', via: 'cli' });
    await startRunner(server, 'cpu-1', ['linux'], 320_000);
    await startRunner(server, 'gpu-1', ['linux', 'gpu'], 320_100);
    const submitted = await server.api('/v1/runs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        version: 1,
        name: 'on-runners',
        defaults: { executor: 'runners' },
        items: [
          {
            id: 'train',
            runsOn: { labels: ['gpu'] },
            secrets: ['API_KEY'],
            runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'test "$API_KEY" = runner-secret-value && echo trained > model.txt && echo "uid $(id -u)"'] },
          },
          { id: 'lint', runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo linted > lint.txt'] } },
        ],
      }),
    });
    expect(submitted.status, await submitted.clone().text()).toBe(201);
    const { runId } = (await submitted.json()) as { runId: string };
    const run = await server.composition.engine.waitForRun(runId);
    const items = server.composition.engine.items(runId);
    expect(
      run.state,
      JSON.stringify(items.map((item) => [item.itemId, item.state, server.composition.engine.attempts(runId, item.itemId).at(-1)?.failure])),
    ).toBe('succeeded');
    const patch = async (itemId: string) => (await server.api(`/v1/runs/${runId}/items/${itemId}/patch`)).text();
    expect(await patch('train')).toContain('+trained');
    expect(await patch('lint')).toContain('+linted');
    // The gpu item ran on the gpu runner, in one of its sandbox uids.
    const entries = [...server.composition.engine.audit.runEntries(runId)];
    const completed = entries.find((entry) => entry.action === 'attempt.completed' && entry.data['itemId'] === 'train')!;
    const stdout = await (await server.api(`/v1/blobs/${(completed.data['artifacts'] as Record<string, string>)['stdout']}`)).text();
    expect(Number(/uid (\d+)/.exec(stdout)?.[1])).toBeGreaterThanOrEqual(320_100);
    expect(stdout).not.toContain('runner-secret-value');
    // Its evidence verifies as any run's.
    const bundle = await server.api(`/v1/runs/${runId}/bundle`);
    expect(bundle.status).toBe(200);
  },
);
