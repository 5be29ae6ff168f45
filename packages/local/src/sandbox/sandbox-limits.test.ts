import { afterEach, describe, expect, test } from 'vitest';
import { bubblewrapCommand, type SandboxLimits } from './bubblewrap-command.ts';
import { openFilesHardLimit } from './open-files-hard-limit.ts';
import { cleanUp, freshUid, runLaunch, testLimits, workspaceFor } from './sandbox.test-support.ts';
import { sandboxLimitSteps } from './sandbox-limits.ts';

const directories: string[] = [];
afterEach(() => cleanUp(directories));

/** The command's limits (soft and hard) as it sees them, by /proc/self/limits' names. */
async function limitsInside(limits: SandboxLimits): Promise<{ code: number | null; stderr: string; limits: Map<string, string> }> {
  const uid = freshUid();
  const launch = bubblewrapCommand(['/bin/cat', '/proc/self/limits'], {
    workspace: workspaceFor(uid, directories),
    uid,
    env: { PATH: '/usr/bin:/bin' },
    network: false,
    limits,
  });
  const result = await runLaunch(launch);
  const rows = result.stdout.split('\n').flatMap((line) => {
    const found = /^(Max [a-z ]+?) {2,}(\S+) +(\S+)/.exec(line);
    return found ? [[found[1]!, `${found[2]} ${found[3]}`] as const] : [];
  });
  return { code: result.code, stderr: result.stderr, limits: new Map(rows) };
}

const expected = (limits: SandboxLimits) =>
  new Map([
    ['Max cpu time', `${limits.cpuSeconds} ${limits.cpuSeconds}`],
    ['Max processes', `${limits.processes} ${limits.processes}`],
    ['Max open files', `${limits.openFiles} ${limits.openFiles}`],
    ['Max file size', `${limits.fileBytes} ${limits.fileBytes}`],
    ['Max address space', `${limits.addressSpaceBytes} ${limits.addressSpaceBytes}`],
  ]);

describe('a sandbox command runs under exactly its limits, soft and hard', () => {
  test("the executor's limits (set by the shell inside where it is dash)", async () => {
    const inside = await limitsInside(testLimits);
    expect(inside.code).toBe(0);
    for (const [name, value] of expected(testLimits)) expect(inside.limits.get(name), name).toBe(value);
  });

  test('byte limits that are not whole blocks or KiB (set by prlimit)', async () => {
    const odd: SandboxLimits = { ...testLimits, fileBytes: 64 * 1024 * 1024 + 1, addressSpaceBytes: 4 * 1024 ** 3 + 100 };
    expect(sandboxLimitSteps(odd).prefix[0]).toBe('/usr/bin/prlimit');
    const inside = await limitsInside(odd);
    expect(inside.code).toBe(0);
    for (const [name, value] of expected(odd)) expect(inside.limits.get(name), name).toBe(value);
  });

  test('a limit that cannot be set stops the sandbox before its command, with a reason', async () => {
    const hard = openFilesHardLimit();
    if (hard === undefined) return;
    const inside = await limitsInside({ ...testLimits, openFiles: hard + 1 });
    expect(inside.limits.size).toBe(0);
    expect(inside.code).not.toBe(0);
    expect(inside.stderr).toMatch(/limit/i);
  });
});

test('the ulimit statements are used only for dash and whole units; prlimit otherwise, with the same values', () => {
  expect(sandboxLimitSteps(testLimits, 'dash')).toEqual({
    statements: 'ulimit -t 60 && ulimit -p 64 && ulimit -n 256 && ulimit -f 131072 && ulimit -v 4194304 || exit 125; ',
    prefix: [],
  });
  const prlimit = ['/usr/bin/prlimit', '--cpu=60', '--nproc=64', '--nofile=256', `--fsize=${64 * 1024 * 1024}`, `--as=${4 * 1024 ** 3}`, '--'];
  expect(sandboxLimitSteps(testLimits, 'bash')).toEqual({ statements: '', prefix: prlimit });
  expect(sandboxLimitSteps({ ...testLimits, fileBytes: 1000 }, 'dash').prefix).toContain('--fsize=1000');
  expect(sandboxLimitSteps({}, 'dash')).toEqual({ statements: '', prefix: [] });
  expect(sandboxLimitSteps({ openFiles: 10 }, 'dash').statements).toBe('ulimit -n 10 || exit 125; ');
});
