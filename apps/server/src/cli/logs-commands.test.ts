// `cairn logs` and `client.logs()` against a real server with real sandboxes: the output live
// while the item runs, the whole output and the exit code after, an earlier attempt by number.
import { createCairnClient, type ItemLogLine } from '@cairn/client';
import { expect, test } from 'vitest';
import { runningServers } from '../http/running-server.test-support.ts';
import { attemptEndLine } from './logs-commands.ts';
import { runCli } from './run-cli.test-support.ts';

const start = runningServers();

const cairn = (args: string[], env: Record<string, string>, onStdout?: (stdout: string) => void) => runCli(args, { env, ...(onStdout ? { onStdout } : {}) });

const slowPrinter = (id: string) => ({
  id,
  runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo first; sleep 2; echo second; echo warning >&2; sleep 1; exit 3'] },
});

test(
  '`cairn logs --follow` prints the first line while the item runs; after the end `cairn logs` prints the whole output, stdout and stderr apart, and the exit code',
  { timeout: 90_000 },
  async () => {
    const { base, operatorToken, composition } = await start();
    const env = { CAIRN_TOKEN: operatorToken };
    const client = createCairnClient({ baseUrl: base, token: operatorToken });
    const { runId } = await client.submit({ version: 1, name: 'printer', items: [slowPrinter('print')] } as never);

    let stateAtFirst: string | undefined;
    const followed = await cairn(['logs', runId, 'print', '--follow', '--server', base], env, (stdout) => {
      if (stdout.includes('first')) stateAtFirst ??= composition.engine.items(runId)[0]?.state;
    });
    expect(stateAtFirst).toBe('running');
    expect(followed.stdout).toBe('first\nsecond\n');
    const ended = '[cairn] attempt 1 failed (exit code 3): CAIRN_EXIT_NONZERO The runtime exited with code 3; the last line of its stderr: "warning".\n';
    expect(followed.stderr).toBe(`warning\n${ended}`);
    expect(followed.status).toBe(1);

    const after = await cairn(['logs', runId, 'print', '--server', base], env);
    expect(after).toEqual({ status: 1, stdout: 'first\nsecond\n', stderr: `warning\n${ended}` });
    const asJson = await cairn(['--json', 'logs', runId, 'print', '--server', base], env);
    const lines = asJson.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as ItemLogLine);
    expect(lines.at(-1)).toMatchObject({ end: { attempt: 1, state: 'failed', exitCode: 3 } });

    const missing = await cairn(['logs', runId, 'nope', '--server', base], env);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain('CAIRN_NOT_FOUND');
    expect(missing.stderr).toContain('"nope"');
    const badAttempt = await cairn(['logs', runId, 'print', '--attempt', 'two', '--server', base], env);
    expect(badAttempt.status).toBe(2);
    expect(badAttempt.stderr).toContain('--attempt');
  },
);

test(
  'client.logs() yields the first line while the item runs; `cairn logs --follow` goes on through a retry; --attempt picks an earlier attempt of a retried item',
  { timeout: 90_000 },
  async () => {
    const { base, operatorToken, composition } = await start();
    const client = createCairnClient({ baseUrl: base, token: operatorToken });
    const { runId } = await client.submit({
      version: 1,
      name: 'retried',
      items: [
        {
          ...slowPrinter('flaky'),
          retry: { maxAttempts: 2, backoff: { initial: '100ms', max: '100ms' } },
          runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo "first $(head -c 6 /dev/urandom | od -An -tx1 | tr -d " \\n")"; sleep 2; exit 3'] },
        },
      ],
    } as never);
    const env = { CAIRN_TOKEN: operatorToken };
    // Following the item without --attempt goes on through its retry.
    const following = cairn(['logs', runId, 'flaky', '--follow', '--server', base], env);
    const seen: { line: ItemLogLine; state: string | undefined }[] = [];
    for await (const line of client.logs(runId, 'flaky', { follow: true })) seen.push({ line, state: composition.engine.items(runId)[0]?.state });
    expect(seen[0]).toMatchObject({ line: { stream: 'stdout', text: expect.stringMatching(/^first [0-9a-f]{12}\n$/) }, state: 'running' });
    expect(seen.at(-1)?.line).toMatchObject({ end: { attempt: 1, state: 'failed', exitCode: 3 } });

    await composition.engine.waitForRun(runId);
    const followed = await following;
    expect(followed.stdout).toMatch(/^first [0-9a-f]{12}\nfirst [0-9a-f]{12}\n$/);
    const failed = (attempt: number) => `[cairn] attempt ${attempt} failed (exit code 3): CAIRN_EXIT_NONZERO The runtime exited with code 3.`;
    expect(followed.stderr).toBe(`${failed(1)}; attempt 2 follows\n${failed(2)}\n`);
    expect(followed.status).toBe(1);
    const first = await cairn(['logs', runId, 'flaky', '--attempt', '1', '--server', base], env);
    const latest = await cairn(['logs', runId, 'flaky', '--server', base], env);
    expect(first.stdout).toBe((seen[0]!.line as { text: string }).text);
    expect(latest.stdout).toMatch(/^first [0-9a-f]{12}\n$/);
    expect(latest.stdout).not.toBe(first.stdout);
    expect(followed.stdout).toBe(`${first.stdout}${latest.stdout}`);
    expect(latest.stderr).toBe(`${failed(2)}\n`);
    await expect(
      (async () => {
        for await (const line of client.logs(runId, 'flaky', { attempt: 3 })) void line;
      })(),
    ).rejects.toMatchObject({ code: 'CAIRN_NOT_FOUND', path: 'attempt' });
  },
);

test('the line after the output says how the attempt ended, with its failure where the server reports one', () => {
  expect(attemptEndLine({ attempt: 1, state: 'succeeded', exitCode: 0, finishedAt: null })).toBeUndefined();
  expect(attemptEndLine({ attempt: 2, state: 'timed-out', exitCode: null, finishedAt: null })).toBe('[cairn] attempt 2 timed-out (no exit code)');
  const refused = {
    code: 'CAIRN_PAYLOAD_INVALID',
    message: 'a symlink escapes the workspace',
    exitCode: 0,
    signal: null,
    rule: 'symlink-escape',
    stderrTail: '',
  };
  expect(attemptEndLine({ attempt: 1, state: 'failed', exitCode: 0, finishedAt: null, failure: refused })).toBe(
    '[cairn] attempt 1 failed (exit code 0): CAIRN_PAYLOAD_INVALID a symlink escapes the workspace (rule symlink-escape)',
  );
});
