// What an operator sees of runners and does to them (ADR 0050, step 2), over a real server: the
// list with each runner's token name and state, drain and resume through the client and `cairn
// runners`, who may do it, the metrics, and the answer of a server without runners.
import { createCairnClient } from '@cairn/client';
import { isCairnError } from '@cairn/protocol';
import { VERSION } from '@cairn/runner';
import { expect, test } from 'vitest';
import { runCli } from '../../cli/run-cli.test-support.ts';
import { runningServers } from '../../http/running-server.test-support.ts';

const start = runningServers();

/** One poll as a runner sends it, answered at once. */
async function poll(base: string, token: string, body: { labels?: string[]; slots?: number; held?: string[] } = {}) {
  const response = await fetch(`${base}/v1/runner/poll`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ version: VERSION, labels: [], slots: 2, held: [], waitMs: 0, ...body }),
  });
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as { leases: unknown[]; cancel: string[]; leaseMs: number; drain?: true };
}

test('a server without runners answers the runner routes 404, saying how to enable them; the metrics say none', async () => {
  const server = await start();
  for (const [path, method] of [
    ['/v1/runners', 'GET'],
    ['/v1/runners/build-1/drain', 'POST'],
    ['/v1/runners/build-1/resume', 'POST'],
  ] as const) {
    const response = await server.api(path, { method });
    expect([path, response.status]).toEqual([path, 404]);
    expect(await response.json()).toMatchObject({
      code: 'CAIRN_NOT_FOUND',
      path: 'runners.enabled',
      message: expect.stringContaining('runners: { enabled: true }'),
    });
  }
  const metrics = await (await server.api('/metrics')).text();
  expect(metrics).toContain('cairn_runners{state="connected"} 0');
  expect(metrics).toContain('cairn_runner_attempts_held 0');
});

test(
  'runners are listed by token name and state, drained and resumed by token name or runner name, by admins only; cairn runners says the same',
  { timeout: 60_000 },
  async () => {
    const server = await start('tokens', { config: { runners: { enabled: true, leaseSeconds: 5 } } });
    const { tokens } = server.composition;
    const build = await tokens.create('build-1', ['runners:run']);
    const gpu = await tokens.create('gpu-1', ['runners:run']);
    const reader = (await tokens.create('reader', ['runs:read'])).token;
    const admin = createCairnClient({ baseUrl: server.base, token: server.operatorToken });

    expect(await admin.runners()).toEqual([]);
    await poll(server.base, build.token, { labels: ['linux', 'pool=build'], slots: 2 });
    await poll(server.base, gpu.token, { labels: ['gpu'], slots: 1 });
    // Listed by runner name; read here by token name.
    const listed = (await admin.runners()).sort((a, b) => (a.tokenName! < b.tokenName! ? -1 : 1));
    expect(listed).toEqual([
      {
        name: `token:${build.record.id}`,
        tokenName: 'build-1',
        tokenRevoked: false,
        version: VERSION,
        labels: ['linux', 'pool=build'],
        slots: 2,
        held: 0,
        lastSeen: expect.any(String),
        state: 'connected',
        draining: false,
      },
      expect.objectContaining({ name: `token:${gpu.record.id}`, tokenName: 'gpu-1', labels: ['gpu'], state: 'connected' }),
    ]);

    // Only admins: not a reader, not a runner's own token.
    for (const token of [reader, build.token]) {
      const refused = await fetch(`${server.base}/v1/runners`, { headers: { authorization: `Bearer ${token}` } });
      expect(refused.status).toBe(403);
      const drain = await fetch(`${server.base}/v1/runners/build-1/drain`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      expect(drain.status).toBe(403);
    }

    // Drained by its token's name: its polls say so and take no work; the other runner takes it.
    expect(await admin.drainRunner('build-1')).toMatchObject({ name: `token:${build.record.id}`, draining: true });
    expect(await poll(server.base, build.token)).toMatchObject({ leases: [], drain: true });
    // Resumed by its token id; then by its runner name, again, changes nothing.
    expect(await admin.resumeRunner(build.record.id)).toMatchObject({ draining: false });
    expect(await admin.resumeRunner(`token:${build.record.id}`)).toMatchObject({ draining: false });
    expect(await poll(server.base, build.token)).not.toHaveProperty('drain');

    // A name no runner has, and a token name two runners' tokens share.
    const unknown = await admin.drainRunner('nobody').catch((error: unknown) => error);
    expect(isCairnError(unknown, 'CAIRN_NOT_FOUND')).toBe(true);
    expect((unknown as Error).message).toMatch(/^No runner named "nobody" polled this server since it started; those that did: /);
    for (const made of [build, gpu]) expect((unknown as Error).message).toContain(`${made.record.name} (token:${made.record.id})`);
    const twin = await tokens.create('gpu-1', ['runners:run']);
    await poll(server.base, twin.token);
    const ambiguous = await admin.drainRunner('gpu-1').catch((error: unknown) => error);
    expect(isCairnError(ambiguous, 'CAIRN_PAYLOAD_INVALID')).toBe(true);
    expect((ambiguous as Error).message).toContain('name one of them by its runner name');

    // The command line, through the same client (the book shows what the runner's last poll said: no labels, 2 free slots).
    const env = { CAIRN_SERVER: server.base, CAIRN_TOKEN: server.operatorToken };
    const drained = await runCli(['runners', 'drain', 'build-1'], { env });
    expect(drained.status, drained.stderr).toBe(0);
    expect(drained.stdout).toBe(`runner build-1 (token:${build.record.id}) drained: it takes no new attempts and holds none (safe to stop)\n`);
    const text = await runCli(['runners'], { env });
    expect(text.status, text.stderr).toBe(0);
    const buildLine = text.stdout.split('\n').find((line) => line.startsWith('build-1'));
    expect(buildLine).toMatch(
      new RegExp(`^build-1 +token:${build.record.id} +connected, draining +v${VERSION.replaceAll('.', '\\.')} +labels - +free 2 +held 0 +last poll \\S+Z$`),
    );
    const asJson = await runCli(['--json', 'runners'], { env });
    expect(JSON.parse(asJson.stdout)).toHaveLength(3);
    const resumed = await runCli(['runners', 'resume', `token:${build.record.id}`], { env });
    expect(resumed.stdout).toBe(`runner build-1 (token:${build.record.id}) resumed: it takes attempts again\n`);
    const refused = await runCli(['runners'], { env: { ...env, CAIRN_TOKEN: reader } });
    expect(refused.status).toBe(3);

    // Revoked, a runner's token shows so; silent for the lease, it is lost, and the metrics count it.
    await tokens.revoke(gpu.record.id);
    expect((await admin.runners()).find((runner) => runner.tokenName === 'gpu-1' && runner.name === `token:${gpu.record.id}`)).toMatchObject({
      tokenRevoked: true,
    });
    const metrics = await (await server.api('/metrics')).text();
    expect(metrics).toContain('cairn_runners{state="connected"} 3');
    expect(metrics).toContain('cairn_runners{state="lost"} 0');
    expect(metrics).toContain('cairn_runner_attempts_held 0');
    await new Promise((resolve) => setTimeout(resolve, 5_100));
    await poll(server.base, build.token);
    const later = await (await server.api('/metrics')).text();
    expect(later).toContain('cairn_runners{state="connected"} 1');
    expect(later).toContain('cairn_runners{state="lost"} 2');
  },
);
