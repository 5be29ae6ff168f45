// How an agent attempt's task reaches the model gateway (ADR 0033): the gateway's URL in the
// override, its credential sealed with the secrets (ADR 0021), and inside the task the worker's
// forwarder on the task's loopback adding it, so the agent CLI never sees it.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExecutionHandle, ResultRecord } from '@cairn/core';
import { blobKey, resultKey } from '@cairn/protocol';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { fargateWorldForFile } from '../testing/fargate.test-support.ts';
import { sealedSecretsKey } from '../secrets/sealed-secrets.ts';
import { taskEnvironmentNames } from './task-environment.ts';

// A stand-in for Claude Code, found on the runtime's PATH as `claude`: one Messages call as the CLI
// makes it (ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY as x-api-key), and a report of the environment of
// every process of the container it can read, its own first. It succeeds only on a 200.
const standInClaude = `#!/opt/node/bin/node
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
const environments = [];
for (const entry of ['self', ...readdirSync('/proc').filter((name) => /^[0-9]+$/.test(name))]) {
  try { environments.push({ process: entry, environ: readFileSync('/proc/' + entry + '/environ', 'utf8').split('\\0').filter(Boolean) }); } catch {}
}
const answer = await fetch(process.env.ANTHROPIC_BASE_URL + '/v1/messages', {
  method: 'POST',
  headers: { 'content-type': 'application/json', 'x-api-key': process.env.ANTHROPIC_API_KEY, 'anthropic-version': '2023-06-01' },
  body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 32, messages: [{ role: 'user', content: 'Say hello.' }] }),
});
const body = await answer.text();
process.stdout.write(JSON.stringify({ type: 'system', subtype: 'init', env: process.env, environments }) + '\\n');
writeFileSync('answer.json', body);
process.stdout.write(JSON.stringify({ type: 'result', subtype: answer.ok ? 'success' : 'error', status: answer.status }) + '\\n');
process.exitCode = answer.ok ? 0 : 1;
`;

const world = fargateWorldForFile({}, { files: { '/opt/agent/bin/claude': { content: standInClaude, mode: 0o755 } } });

/** The model gateway as a task reaches it, reduced to what is checked here: the credential header. */
interface SeenCall {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}
const calls: SeenCall[] = [];
const credential = `cairn-gw-v1.attempt-credential-marker-${Date.now()}`;
const gatewayServer = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    calls.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
    if (request.headers['x-cairn-credential'] !== credential) {
      response.writeHead(401, { 'content-type': 'application/json', 'x-cairn-error': 'CAIRN_GATEWAY_CREDENTIAL_INVALID' }).end('{"error":"credential"}');
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(
      JSON.stringify({
        type: 'message',
        role: 'assistant',
        content: [{ type: 'text', text: 'Hello from the gateway.' }],
        usage: { input_tokens: 3, output_tokens: 5 },
      }),
    );
  });
});
let gatewayUrl = '';
beforeAll(async () => {
  await new Promise<void>((resolve) => gatewayServer.listen(0, '127.0.0.1', resolve));
  gatewayUrl = `http://127.0.0.1:${(gatewayServer.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => gatewayServer.close(() => resolve())));

async function waitForExit(handle: ExecutionHandle) {
  const executor = world().executor();
  const deadline = Date.now() + 30_000;
  for (;;) {
    const status = await executor.inspect(handle);
    if (status.state === 'exited' || status.state === 'unknown') return status;
    if (Date.now() > deadline) throw new Error(`still ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const text = async (key: string) => new TextDecoder().decode((await world().storage.get(key))!);

test("an agent item's task calls the gateway through its forwarder; the credential is nowhere in RunTask, the agent's environment or the logs", async () => {
  const executionId = `gateway-${Date.now()}/agent/1`;
  const executor = world().executor();
  const traceContext = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'cairn=1' };
  const task = {
    ...world().task(
      executionId,
      { kind: 'agent', adapter: 'claude-code', model: 'claude-sonnet-4-5', prompt: 'Say hello.' },
      // The worker's PATH for runtimes has no /opt: the item's env puts the CLI there.
      { gateway: { url: gatewayUrl, credential }, manifest: { env: { PATH: '/opt/agent/bin:/opt/node/bin:/usr/bin:/bin' } } },
    ),
    traceContext,
  };
  const handle = await executor.start(task);
  const sealed = await world().storage.get(sealedSecretsKey(executionId));
  const status = await waitForExit(handle);
  const record = JSON.parse(await text(resultKey(executionId))) as ResultRecord;
  const stdout = await text(blobKey(record.artifacts.stdout));
  expect(status, `${stdout}\n${await text(blobKey(record.artifacts.stderr))}`).toMatchObject({ state: 'exited', outcome: 'succeeded', exitCode: 0 });

  // The gateway got the agent's call with the attempt's credential, and not the agent's placeholder key.
  const call = calls.find((candidate) => candidate.headers['x-cairn-credential'] === credential)!;
  expect(call).toMatchObject({ method: 'POST', url: '/anthropic/v1/messages' });
  expect(call.headers['x-api-key']).toBeUndefined();
  expect(call.headers['authorization']).toBeUndefined();
  expect(JSON.parse(call.body)).toMatchObject({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'Say hello.' }] });

  // The agent was pointed at its forwarder on the task's loopback, with a placeholder key.
  const init = JSON.parse(stdout.split('\n')[0]!) as { env: Record<string, string>; environments: { process: string; environ: string[] }[] };
  const base = new URL(init.env['ANTHROPIC_BASE_URL']!);
  expect(base.hostname).toBe('127.0.0.1');
  expect(base.port).not.toBe(new URL(gatewayUrl).port);
  expect(init.env['ANTHROPIC_API_KEY']).toBe('cairn-gateway');
  // The task's trace context reached the agent, so its own spans join the attempt's trace.
  expect([init.env['TRACEPARENT'], init.env['TRACESTATE']]).toEqual([traceContext.traceparent, traceContext.tracestate]);
  // It could read its own environment and the worker's (same uid in the container): neither holds it.
  expect(init.environments.map((entry) => entry.process)).toContain('self');
  expect(init.environments.some((entry) => entry.environ.some((pair) => pair.startsWith(`${taskEnvironmentNames.executionId}=`)))).toBe(true);

  // The override names the gateway's URL and the sealed object, never the credential.
  const runTask = world().ecs.requests.filter((request) => request.operation === 'RunTask' && request.raw.includes(executionId));
  expect(runTask).toHaveLength(1);
  const container = world()
    .ecs.tasks()
    .find((candidate) => candidate.taskArn === handle['taskArn'])!;
  expect(container.environment[taskEnvironmentNames.gatewayUrl]).toBe(gatewayUrl);
  expect(container.environment[taskEnvironmentNames.sealedSecrets]).toBe(sealedSecretsKey(executionId));
  const places = {
    'the RunTask request': runTask[0]!.raw,
    "the container's environment": JSON.stringify(container.environment),
    "the agent's view of the container's environments": JSON.stringify(init.environments),
    "the task's log (stdout and stderr)": container.output,
    "the attempt's stdout": stdout,
    "the attempt's stderr": await text(blobKey(record.artifacts.stderr)),
    'the result record': JSON.stringify(record),
    'the sealed object': new TextDecoder().decode(sealed!),
  };
  const forms = [
    credential,
    Buffer.from(credential).toString('base64'),
    Buffer.from(credential).toString('base64url'),
    Buffer.from(credential).toString('hex'),
  ];
  for (const [place, content] of Object.entries(places)) for (const form of forms) expect(content, place).not.toContain(form);
  // Opened inside the task and deleted there.
  expect(await world().storage.get(sealedSecretsKey(executionId))).toBeNull();
  expect(world().kms.requests.some((request) => request.operation === 'Decrypt' && JSON.stringify(request.body).includes(executionId))).toBe(true);
});

test('an agent task with a gateway and no cipher to seal its credential is refused before anything starts', async () => {
  const executor = world().executor({ cipher: undefined as never, taskCipher: undefined as never });
  const executionId = `gateway-no-cipher-${Date.now()}/agent/1`;
  const task = world().task(executionId, { kind: 'agent', adapter: 'claude-code', prompt: 'Say hello.' }, { gateway: { url: gatewayUrl, credential } });
  await expect(executor.start(task)).rejects.toMatchObject({
    code: 'CAIRN_EXECUTOR_START_FAILED',
    message: expect.stringMatching(/gateway credential.*fargate\.cipher/),
  });
  expect(world().ecs.requests.some((request) => request.operation === 'RunTask' && request.raw.includes(executionId))).toBe(false);
});
