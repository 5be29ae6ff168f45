// The `cairn` command line, run as a user runs it (a child process, from src through the source
// export condition): init writes a working config and keys, doctor passes on it, validate reports
// with exit codes, and the composition it describes runs a sandboxed run to the end.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, test } from 'vitest';
import { composeServer } from '../composition/compose-server.ts';
import { loadServerConfig } from '../config/load-server-config.ts';

const here = dirname(fileURLToPath(import.meta.url));
const examples = join(here, '..', '..', '..', '..', 'examples');
const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function cairn(args: string[], cwd: string) {
  const env = { ...process.env };
  delete env['NODE_EXTRA_CA_CERTS'];
  return spawnSync(process.execPath, ['--conditions=@cairn/source', join(here, 'cli.ts'), ...args], { cwd, encoding: 'utf8', env });
}

test('init, then doctor, then a run through the composition the config describes', { timeout: 60_000 }, async () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-cli-'));
  directories.push(directory);
  // Sandboxes start as their own uid and must pass through to their workspaces.
  chmodSync(directory, 0o711);
  const init = cairn(['--json', 'init'], directory);
  expect(init.status, init.stderr).toBe(0);
  const result = JSON.parse(init.stdout) as { configFile: string; dataDirectory: string; keyId: string };
  expect(result.keyId).toMatch(/^sha256:[0-9a-f]{64}$/);
  expect(statSync(join(result.dataDirectory, 'keys', 'signing.pem')).mode & 0o777).toBe(0o600);
  expect(statSync(join(result.dataDirectory, 'keys', 'cipher.key')).mode & 0o777).toBe(0o600);
  expect(cairn(['init'], directory)).toMatchObject({ status: 2, stderr: expect.stringContaining('never overwrites') });

  const doctor = cairn(['--json', 'doctor'], directory);
  const findings = JSON.parse(doctor.stdout) as { check: string; ok: boolean }[];
  expect(findings.map((finding) => finding.check)).toEqual(expect.arrayContaining(['git', 'keys', 'storage', 'database']));
  const sandboxed = process.getuid?.() === 0 && findings.find((finding) => finding.check === 'bubblewrap')?.ok === true;
  if (sandboxed) expect(doctor.status).toBe(0);

  const composition = await composeServer(loadServerConfig({ directory, env: sandboxed ? {} : { CAIRN_SANDBOX: 'none' } }));
  try {
    composition.engine.start();
    const { runId } = composition.engine.submit(
      { version: 1, name: 'hello', items: [{ id: 'hello', runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo hello > hello.txt'] } }] },
      { actor: { kind: 'user', id: 'ana', via: 'cli' } },
    );
    expect((await composition.engine.waitForRun(runId)).state).toBe('succeeded');
  } finally {
    await composition.close();
  }
});

test('validate: a valid spec, and an invalid one with every problem and exit code 2', () => {
  const valid = cairn(['--json', 'validate', join(here, '..', '..', 'demo', 'run.yaml')], tmpdir());
  expect(valid.status).toBe(0);
  expect(JSON.parse(valid.stdout)).toMatchObject({ valid: true, name: 'sample-headers', items: 5 });
  const invalid = cairn(['validate', join(examples, 'broken.yaml')], tmpdir());
  expect(invalid.status).toBe(2);
  expect(invalid.stderr).toContain('CAIRN_RUN_SPEC_INVALID');
  expect(invalid.stderr).toContain('$.items[1].dependsOn[0]');
});

test("validate --fragment: a planner's output checked against the spec as the engine will, offline, every problem at its path", () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-fragment-'));
  directories.push(directory);
  const spec = join(directory, 'plan.json');
  const command = { kind: 'command', argv: ['true'] };
  writeFileSync(
    spec,
    JSON.stringify({
      version: 1,
      name: 'plans',
      items: [
        { id: 'setup', runtime: command },
        { id: 'plan', dependsOn: ['setup'], emits: { maxItems: 3 }, runtime: command },
        { id: 'ship', dependsOn: ['plan'], runtime: command },
      ],
    }),
  );
  const fragment = (items: unknown[]) => {
    writeFileSync(join(directory, 'output.json'), JSON.stringify({ items }));
    return join(directory, 'output.json');
  };
  const good = cairn(
    [
      'validate',
      spec,
      '--fragment',
      fragment([
        { id: 'a', dependsOn: ['setup'], runtime: command },
        { id: 'b', dependsOn: ['a'], runtime: command },
      ]),
      '--emitted-by',
      'plan',
    ],
    directory,
  );
  expect(good.stdout, good.stderr).toContain('valid: the fragment adds 2 items to run "plans" under plan (plan/a, plan/b); checked offline');
  // `ship` waits on the planner: it has not run when the fragment is added.
  const waiting = cairn(['validate', spec, '--fragment', fragment([{ id: 'a', dependsOn: ['ship'], runtime: command }]), '--emitted-by', 'plan'], directory);
  expect(waiting.status).toBe(2);
  expect(waiting.stderr).toContain('$.items[0].dependsOn[0] names item ship of the run, which is blocked');
  const tooMany = cairn(
    ['validate', spec, '--fragment', fragment(['a', 'b', 'c', 'd'].map((id) => ({ id, runtime: command }))), '--emitted-by', 'plan'],
    directory,
  );
  expect(tooMany.stderr).toContain("$.items holds 4 items, more than the emitter's emits.maxItems (3)");
  const noPlanner = cairn(['validate', spec, '--fragment', fragment([]), '--emitted-by', 'ship'], directory);
  expect([noPlanner.status, noPlanner.stderr]).toEqual([2, expect.stringContaining('Item ship has no emits')]);
});

test('a file named on the command line that cannot be read is bad input (exit 2) naming it, never an unexpected error', () => {
  const missing = join(tmpdir(), 'no-such-cairn-file.json');
  for (const args of [
    ['verify', missing],
    ['validate', missing],
    ['--json', 'submit', missing, '--server', 'http://127.0.0.1:9'],
  ]) {
    const result = cairn(args, tmpdir());
    expect([args[0], result.status]).toEqual([args[0], 2]);
    expect(result.stderr).toContain(`Cannot read the ${args.includes('verify') ? 'evidence bundle' : 'run spec'} ${missing}: there is no such file`);
  }
});

test('a reader that stops early (cairn ... | head) ends the command quietly, with its own exit code', { timeout: 30_000 }, async () => {
  const env = { ...process.env };
  delete env['NODE_EXTRA_CA_CERTS'];
  const child = spawn(process.execPath, ['--conditions=@cairn/source', join(here, 'cli.ts'), 'validate', join(here, '..', '..', 'demo', 'run.yaml')], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The reading end is gone before the command writes a line.
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect([status, stderr]).toEqual([0, '']);
});
