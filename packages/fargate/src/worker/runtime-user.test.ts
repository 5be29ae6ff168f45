// The runtime (a command, an agent CLI) cannot read the worker that runs it: in a task run as the
// Cairn stack's task definition runs it (user 0, the capabilities it keeps, read from the committed
// template), the worker starts the runtime as uid 1000, which can neither read the worker's
// environment (the task role's credentials endpoint) nor open its memory, while the attempt still
// works: its patch, files of mode 0600 included, comes back, and an agent reaches the gateway
// through the worker's forwarder.
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionHandle, ResultRecord } from '@cairn/core';
import { blobKey, resultKey } from '@cairn/protocol';
import { snapshotWorkspace } from '@cairn/protocol/workspace';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fargateWorldForFile, type FargateWorld } from '../testing/fargate.test-support.ts';
import { separateRuntimeUser } from './runtime-user.ts';

/** The worker container of the committed AWS template (a test keeps it equal to the stack's synthesis). */
function stackWorkerContainer(): { user: string; capabilities: { add?: string[]; drop?: string[] } } {
  const template = JSON.parse(readFileSync(fileURLToPath(new URL('../../../../deploy/aws/cairn.template.json', import.meta.url)), 'utf8')) as {
    Resources: Record<string, { Type: string; Properties: { ContainerDefinitions?: Record<string, unknown>[] } }>;
  };
  const definition = Object.values(template.Resources).find((resource) => resource.Type === 'AWS::ECS::TaskDefinition')!;
  const container = definition.Properties.ContainerDefinitions![0]! as {
    User: string;
    LinuxParameters: { Capabilities: { Add?: string[]; Drop?: string[] } };
  };
  const { Add, Drop } = container.LinuxParameters.Capabilities;
  return { user: container.User, capabilities: { ...(Add ? { add: Add } : {}), ...(Drop ? { drop: Drop } : {}) } };
}

test('a worker that is not root keeps its runtime as its own user and says why', () => {
  expect(separateRuntimeUser(1000)).toMatchObject({ separated: false, reason: expect.stringMatching(/uid 1000, not root.*can read the worker's process/) });
  expect(separateRuntimeUser(0)).toMatchObject({ separated: true });
});

test.runIf(process.getuid?.() === 0)(
  "a root worker's launch gives the workspace (not what its symlinks point at) and a TMPDIR to uid 1000, and names the user to spawn as",
  () => {
    const attempt = mkdtempSync(join(tmpdir(), 'cairn-runtime-user-launch-'));
    const outside = join(tmpdir(), `cairn-runtime-user-outside-${process.pid}`);
    try {
      writeFileSync(outside, 'root only\n', { mode: 0o600 });
      const workspace = join(attempt, 'workspace');
      mkdirSync(join(workspace, 'src', 'deep'), { recursive: true });
      writeFileSync(join(workspace, 'src', 'deep', 'a.ts'), 'a\n');
      symlinkSync(outside, join(workspace, 'src', 'link'));
      const separation = separateRuntimeUser(0);
      if (!separation.separated) throw new Error(separation.reason);
      const launched = separation.launch(['/bin/true', '-x'], { workspace, env: { PATH: '/usr/bin', AWS_REGION: 'set-by-the-manifest' }, network: false });
      expect(launched).toEqual({
        command: '/bin/true',
        args: ['-x'],
        env: { PATH: '/usr/bin', AWS_REGION: 'set-by-the-manifest', TMPDIR: join(attempt, 'runtime-tmp') },
        uid: 1000,
        gid: 1000,
      });
      for (const path of [
        workspace,
        join(workspace, 'src'),
        join(workspace, 'src', 'deep'),
        join(workspace, 'src', 'deep', 'a.ts'),
        join(attempt, 'runtime-tmp'),
      ]) {
        expect(statSync(path), path).toMatchObject({ uid: 1000, gid: 1000 });
      }
      expect(lstatSync(join(workspace, 'src', 'link'))).toMatchObject({ uid: 1000 });
      expect(statSync(outside)).toMatchObject({ uid: 0, gid: 0 });
      expect(statSync(attempt).mode & 0o777).toBe(0o711);
      expect(statSync(attempt).uid).toBe(0);
    } finally {
      rmSync(attempt, { recursive: true, force: true });
      rmSync(outside, { force: true });
    }
  },
);

// A root container runs as the host's root (a user namespace maps one uid): this machine's tests run as root.
describe.runIf(process.getuid?.() === 0)('a task run as the stack runs it (user 0, its capabilities)', () => {
  // Where the ECS agent puts the task role's credentials endpoint: the worker's environment.
  const credentialsPath = `/v2/credentials/${crypto.randomUUID()}`;
  const stack = stackWorkerContainer();
  const agentCli = `#!/opt/node/bin/node
import { readFileSync, writeFileSync } from 'node:fs';
const tried = {};
for (const file of ['environ', 'mem']) {
  try { tried[file] = 'read ' + readFileSync('/proc/' + process.ppid + '/' + file).length + ' bytes'; } catch (error) { tried[file] = error.code; }
}
const answer = await fetch(process.env.ANTHROPIC_BASE_URL + '/v1/messages', {
  method: 'POST',
  headers: { 'content-type': 'application/json', 'x-api-key': process.env.ANTHROPIC_API_KEY, 'anthropic-version': '2023-06-01' },
  body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'Hello.' }] }),
});
writeFileSync('agent.json', JSON.stringify({ uid: process.getuid(), tried, status: answer.status, env: Object.keys(process.env).sort() }) + '\\n', { mode: 0o600 });
process.stdout.write(JSON.stringify({ type: 'result', subtype: answer.ok ? 'success' : 'error' }) + '\\n');
process.exitCode = answer.ok ? 0 : 1;
`;
  const world: () => FargateWorld = fargateWorldForFile(
    {},
    {
      user: stack.user,
      capabilities: stack.capabilities,
      environment: { AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: credentialsPath },
      files: { '/opt/agent/bin/claude': { content: agentCli, mode: 0o755 } },
    },
  );

  const credential = `cairn-gw-v1.runtime-user-${Date.now()}`;
  const calls: IncomingHttpHeaders[] = [];
  const gatewayServer = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      calls.push(request.headers);
      const allowed = request.headers['x-cairn-credential'] === credential;
      response
        .writeHead(allowed ? 200 : 401, { 'content-type': 'application/json' })
        .end(JSON.stringify(allowed ? { type: 'message', content: [] } : { error: 'credential' }));
    });
  });
  let gatewayUrl = '';
  beforeAll(async () => {
    await new Promise<void>((resolve) => gatewayServer.listen(0, '127.0.0.1', resolve));
    gatewayUrl = `http://127.0.0.1:${(gatewayServer.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => gatewayServer.close(() => resolve())));

  const text = async (key: string) => new TextDecoder().decode((await world().storage.get(key))!);
  async function finished(handle: ExecutionHandle, executionId: string) {
    const executor = world().executor();
    const deadline = Date.now() + 30_000;
    for (;;) {
      const status = await executor.inspect(handle);
      if (status.state === 'exited' || status.state === 'unknown') break;
      if (Date.now() > deadline) throw new Error(`still ${JSON.stringify(status)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const record = JSON.parse(await text(resultKey(executionId))) as ResultRecord;
    const task = world()
      .ecs.tasks()
      .find((candidate) => candidate.taskArn === handle['taskArn'])!;
    const logs = `${JSON.stringify(record.failure ?? null)}\n${await text(blobKey(record.artifacts.stdout))}\n${await text(blobKey(record.artifacts.stderr))}\n${task.output}`;
    return { record, task, logs, patch: record.artifacts.patch ? await text(blobKey(record.artifacts.patch)) : '' };
  }

  test("a command cannot read the worker's environment or memory, nor finds the credentials endpoint in its own; its patch, a 0600 file too, comes back", async () => {
    const folder = mkdtempSync(join(tmpdir(), 'cairn-runtime-user-'));
    writeFileSync(join(folder, 'README.md'), 'before\n');
    const source = await snapshotWorkspace(folder);
    rmSync(folder, { recursive: true, force: true });
    await world().storage.put(blobKey(source.digest), source.bytes);
    const script = [
      'for file in environ mem; do if head -c 64 "/proc/$PPID/$file" >/dev/null 2>"tried-$file.txt"; then echo "read" >"tried-$file.txt"; fi; done',
      'echo "uri=${AWS_CONTAINER_CREDENTIALS_RELATIVE_URI:-absent} ecs=$(env | grep -c "^ECS_\\|^AWS_")" >credentials.txt',
      'id -u >uid.txt',
      'echo scratch >"$TMPDIR/scratch" && echo "tmp ok" >tmp.txt',
      '(umask 077; echo private >private.txt)',
      'echo after >>README.md',
    ].join('\n');
    const executionId = `runtime-user-${Date.now()}/command/1`;
    const task = world().task(executionId, { kind: 'command', argv: ['/bin/sh', '-c', script] }, { manifest: { workspace: source.digest } });
    const handle = await world().executor().start(task);
    const { record, task: container, logs, patch } = await finished(handle, executionId);
    expect(record, logs).toMatchObject({ outcome: 'succeeded', exitCode: 0 });
    // The worker had the endpoint (the oracle: what the container was given) and ran as root.
    expect(container.environment['AWS_CONTAINER_CREDENTIALS_RELATIVE_URI']).toBe(credentialsPath);
    expect(container.output).not.toContain('not root');
    // The runtime ran as 1000 and was refused both; nothing of the worker's environment is in its own.
    expect(patch).toContain('+1000');
    expect(patch).toMatch(/\+\+\+ b\/tried-environ\.txt\n@@[^\n]*\n\+[^\n]*Permission denied/);
    expect(patch).toMatch(/\+\+\+ b\/tried-mem\.txt\n@@[^\n]*\n\+[^\n]*Permission denied/);
    expect(patch).toContain('+uri=absent ecs=0');
    expect(patch).toContain('+tmp ok');
    // The worker (CAP_DAC_OVERRIDE) read the runtime's files: the 0600 one and the changed one it was given.
    expect(patch).toMatch(/\+\+\+ b\/private\.txt\n@@[^\n]*\n\+private/);
    expect(patch).toContain(' before\n+after');
    expect(`${patch}\n${logs}`).not.toContain(credentialsPath);
  });

  test("an agent reaches the gateway through the worker's forwarder and cannot read the worker", async () => {
    const executionId = `runtime-user-${Date.now()}/agent/1`;
    const task = world().task(
      executionId,
      { kind: 'agent', adapter: 'claude-code', model: 'claude-sonnet-4-5', prompt: 'Hello.' },
      { gateway: { url: gatewayUrl, credential }, manifest: { env: { PATH: '/opt/agent/bin:/opt/node/bin:/usr/bin:/bin' } } },
    );
    const handle = await world().executor().start(task);
    const { record, logs, patch } = await finished(handle, executionId);
    expect(record, logs).toMatchObject({ outcome: 'succeeded', exitCode: 0 });
    expect(calls.some((headers) => headers['x-cairn-credential'] === credential)).toBe(true);
    const line = patch.split('\n').find((candidate) => candidate.startsWith('+{'));
    const seen = JSON.parse(line!.slice(1)) as { uid: number; tried: Record<string, string>; status: number; env: string[] };
    expect(seen).toMatchObject({ uid: 1000, tried: { environ: 'EACCES', mem: 'EACCES' }, status: 200 });
    expect(seen.env.filter((name) => /^(AWS_|ECS_)/.test(name))).toEqual([]);
    expect(`${patch}\n${logs}`).not.toContain(credential);
  });
});
