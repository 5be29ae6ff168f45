// The `cairn` commands that talk to a running server, through @cairn/client: submit a workspace
// and wait, read its status, download its evidence and verify it offline with the pinned key.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCairnClient } from '@cairn/client';
import { expect, test } from 'vitest';
import { runningServers } from '../http/running-server.test-support.ts';
import { runCli } from './run-cli.test-support.ts';
import { servedMcpTools } from './mcp-tools.test-support.ts';

const here = dirname(fileURLToPath(import.meta.url));
const start = runningServers();

const cairn = (args: string[], env: Record<string, string>, input?: string) => runCli(args, { env, ...(input === undefined ? {} : { input }) });

test('submit --workspace --wait, status, and verify of the downloaded bundle with the pinned key', { timeout: 90_000 }, async () => {
  const { directory, composition, base: server, operatorToken, keyId } = await start();
  const env = { CAIRN_TOKEN: operatorToken };

  const workspace = join(directory, 'project');
  mkdirSync(workspace);
  writeFileSync(join(workspace, 'notes.txt'), 'first line\n');
  const spec = join(directory, 'run.yaml');
  writeFileSync(
    spec,
    'version: 1\nname: append\nitems:\n  - { id: append, runtime: { kind: command, argv: [/bin/sh, -c, "echo second line >> notes.txt"] } }\n',
  );

  const submitted = await cairn(['submit', spec, '--workspace', workspace, '--wait', '--server', server], env);
  expect(submitted.status, submitted.stderr).toBe(0);
  expect(submitted.stdout).toMatch(/workspace .*: 1 files, sha256:[0-9a-f]{64}/);
  expect(submitted.stdout).toContain('append           succeeded');
  const runId = /^run (r-\S+)$/m.exec(submitted.stdout)![1]!;

  const status = await cairn(['--json', 'status', runId, '--server', server], env);
  expect(JSON.parse(status.stdout)).toMatchObject({ run: { runId, state: 'succeeded' }, items: [{ itemId: 'append', state: 'succeeded' }] });

  const client = createCairnClient({ baseUrl: server, token: operatorToken });
  const completed = composition.engine.audit.runEntries(runId).find((entry) => entry.action === 'attempt.completed')!;
  expect(new TextDecoder().decode(await client.blob((completed.data['artifacts'] as Record<string, string>)['patch']!))).toContain('+second line');
  const bundleFile = join(directory, 'run.bundle.json');
  writeFileSync(bundleFile, await client.bundle(runId));
  const verified = await cairn(['verify', bundleFile, '--trusted-key', keyId], env);
  expect(verified.status, verified.stdout).toBe(0);
  expect(verified.stdout).toContain('valid: true');
  writeFileSync(bundleFile, readFileSync(bundleFile, 'utf8').replace('"id":"token:', '"id":"forged:'));
  expect((await cairn(['verify', bundleFile, '--trusted-key', keyId], env)).status).toBe(1);

  await expect(createCairnClient({ baseUrl: server }).run(runId)).rejects.toMatchObject({ code: 'CAIRN_UNAUTHENTICATED' });
  await expect(client.run('r-missing')).rejects.toMatchObject({ code: 'CAIRN_NOT_FOUND', path: 'runId' });
});

test('cairn mcp over stdio: an AI client with a submit-and-read token runs work and reads its patch, and nothing more', { timeout: 90_000 }, async () => {
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');
  const { composition, base: server } = await start();
  const { token } = await composition.tokens.create('agent', ['runs:submit', 'runs:read']);
  const childEnv: Record<string, string> = Object.fromEntries(
    Object.entries({ ...process.env, CAIRN_TOKEN: token }).filter(
      (entry): entry is [string, string] => entry[1] !== undefined && entry[0] !== 'NODE_EXTRA_CA_CERTS',
    ),
  );
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ['--conditions=@cairn/source', join(here, 'cli.ts'), 'mcp', '--server', server],
    env: childEnv,
    stderr: 'pipe',
  });
  const client = new Client({ name: 'agent', version: '1.0.0' });
  await client.connect(transport);
  try {
    expect((await client.listTools()).tools.map((tool) => tool.name).sort()).toEqual(servedMcpTools);
    const spec =
      'version: 1\nname: from-an-agent\nitems:\n  - { id: write, runtime: { kind: command, argv: [/bin/sh, -c, "echo made by an agent > agent.txt"] } }\n';
    const submitted = await client.callTool({ name: 'submit_run', arguments: { spec } });
    const { runId } = JSON.parse((submitted.content as { text: string }[])[0]!.text) as { runId: string };
    const waited = await client.callTool({ name: 'wait_for_run', arguments: { runId, timeoutSeconds: 60 } });
    expect(JSON.parse((waited.content as { text: string }[])[0]!.text)).toMatchObject({ runId, state: 'succeeded' });
    const patch = await client.callTool({ name: 'get_patch', arguments: { runId, itemId: 'write' } });
    expect((patch.content as { text: string }[])[0]!.text).toContain('+made by an agent');
    // Its run is audited as submitted by the agent's token, through HTTP.
    expect(composition.engine.audit.runEntries(runId)[0]!.actor.id).toMatch(/^token:/);
  } finally {
    await client.close();
  }
});

test(
  'secret set (from stdin) and schedule add/list/rm through a running server; the value reaches the task and nothing else',
  { timeout: 90_000 },
  async () => {
    const { directory, composition, base: server, operatorToken } = await start();
    const env = { CAIRN_TOKEN: operatorToken };
    const value = 'sk-test-4f9a2c7d1e';
    expect((await cairn(['secret', 'set', 'API_KEY', '--server', server], env, `${value}\n`)).stdout).toContain('secret API_KEY set (version 1)');
    const listed = await cairn(['--json', 'secret', 'list', '--server', server], env);
    expect(JSON.parse(listed.stdout)).toMatchObject([{ name: 'API_KEY', version: 1 }]);
    expect(listed.stdout).not.toContain(value);

    const spec = join(directory, 'uses-secret.yaml');
    writeFileSync(
      spec,
      'version: 1\nname: uses-secret\nitems:\n  - { id: check, secrets: [API_KEY], runtime: { kind: command, argv: [/bin/sh, -c, \'test "$API_KEY" = sk-test-4f9a2c7d1e && echo the key arrived\'] } }\n',
    );
    const run = await cairn(['submit', spec, '--wait', '--server', server], env);
    expect(run.status, run.stdout + run.stderr).toBe(0);
    const everything = JSON.stringify([...composition.engine.audit.entries()]);
    expect(everything).toContain('API_KEY');
    expect(everything).not.toContain(value);

    const added = await cairn(['--json', 'schedule', 'add', spec, '--id', 'pulse', '--cron', '* * * * * *', '--server', server], env);
    expect(added.status, added.stderr).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({ scheduleId: 'pulse', timeZone: 'UTC' });
    const scheduleList = (await cairn(['schedule', 'list', '--server', server], env)).stdout.split('\n');
    // A heading over the columns, as the other lists have; the row's columns start under it.
    expect(scheduleList[0]).toMatch(/^schedule\s+cron\s+time zone\s+next slot$/);
    expect(scheduleList[1]).toMatch(/^pulse\s+\* \* \* \* \* \*\s+UTC\s+\d{4}-/);
    expect(scheduleList[1]!.indexOf('* * *')).toBe(scheduleList[0]!.indexOf('cron'));
    // An every-second schedule fires within about a second.
    const fired = () => [...composition.engine.audit.entries()].some((entry) => entry.action === 'schedule.fired' && entry.outcome === 'success');
    for (let wait = 0; wait < 300 && !fired(); wait++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(fired()).toBe(true);
    expect((await cairn(['schedule', 'rm', 'pulse', '--server', server], env)).stdout).toContain('schedule pulse removed');
    const reader = (await composition.tokens.create('reader', ['runs:read'])).token;
    expect((await cairn(['secret', 'list', '--server', server], { CAIRN_TOKEN: reader })).stderr).toContain('CAIRN_FORBIDDEN');
  },
);

test('approve, reject, cancel, watch and patch from the command line', { timeout: 90_000 }, async () => {
  const { directory, composition, base: server, operatorToken } = await start();
  const env = { CAIRN_TOKEN: operatorToken };
  const gated = join(directory, 'gated.yaml');
  writeFileSync(
    gated,
    'version: 1\nname: gated\nitems:\n  - { id: change, approval: required, runtime: { kind: command, argv: [/bin/sh, -c, "echo approved > ok.txt"] } }\n',
  );
  const idOf = (output: string) => /run (r-\S+)/.exec(output)![1]!;

  const first = idOf((await cairn(['submit', gated, '--server', server], env)).stdout);
  expect((await cairn(['approve', first, 'change', '--reason', 'read the plan', '--server', server], env)).stdout).toContain(
    `approved: item change of run ${first}`,
  );
  expect(composition.engine.audit.runEntries(first).find((entry) => entry.action === 'item.approved')!.data['reason']).toBe('read the plan');
  const watched = await cairn(['watch', first, '--server', server], env);
  expect([watched.status, watched.stdout]).toEqual([0, expect.stringContaining('run succeeded')]);
  expect((await cairn(['patch', first, 'change', '--server', server], env)).stdout).toContain('+approved');

  const second = idOf((await cairn(['submit', gated, '--server', server, '--idempotency-key', 'second'], env)).stdout);
  await cairn(['reject', second, 'change', '--reason', 'not today', '--server', server], env);
  expect((await cairn(['watch', second, '--server', server], env)).status).toBe(1);
  expect(composition.engine.audit.runEntries(second).find((entry) => entry.action === 'item.rejected')!.data['reason']).toBe('not today');

  const slow = join(directory, 'slow.yaml');
  writeFileSync(slow, 'version: 1\nname: slow\nitems:\n  - { id: wait, runtime: { kind: command, argv: [/bin/sleep, "600"] } }\n');
  const third = idOf((await cairn(['submit', slow, '--server', server], env)).stdout);
  for (let wait = 0; wait < 200 && composition.engine.items(third)[0]!.state !== 'running'; wait++) await new Promise((resolve) => setTimeout(resolve, 20));
  expect((await cairn(['cancel', third, '--reason', 'superseded by run 4', '--server', server], env)).stdout).toContain('cancel requested');
  expect((await cairn(['--json', 'watch', third, '--server', server], env)).status).toBe(1);
  expect(composition.engine.run(third)!.state).toBe('cancelled');
  // The reason outlives the stop of the running item: its cancellation and the run's both carry it.
  const cancelled = composition.engine.audit.runEntries(third).filter((entry) => entry.action === 'item.cancelled' || entry.action === 'run.cancelled');
  expect(cancelled.map((entry) => [entry.action, entry.data['reason']])).toEqual([
    ['item.cancelled', 'superseded by run 4'],
    ['run.cancelled', 'superseded by run 4'],
  ]);
});
