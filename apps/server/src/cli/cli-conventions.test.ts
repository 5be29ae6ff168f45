// What users of gh and kubectl expect of a command line: help and a version, usage errors that
// exit 2, an unreachable server named as such, servers chosen by environment or named context
// from any folder, and shell completion that the real shells accept.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, test } from 'vitest';
import { runningServers } from '../http/running-server.test-support.ts';
import { VERSION } from '../version.ts';
import { runCli } from './run-cli.test-support.ts';

const here = dirname(fileURLToPath(import.meta.url));
const start = runningServers();
const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

/** A fresh folder that holds no server config, with a client config of its own. */
function elsewhere(): { cwd: string; env: Record<string, string> } {
  const cwd = mkdtempSync(join(tmpdir(), 'cairn-elsewhere-'));
  directories.push(cwd);
  return { cwd, env: { CAIRN_CLIENT_CONFIG: join(cwd, 'config', 'client.yaml') } };
}

// Each call names its server and token itself: none is inherited from the shell running the tests.
const cairn = (args: string[], options: { cwd?: string; env?: Record<string, string>; input?: string } = {}) =>
  runCli(args, { ...options, unset: ['CAIRN_SERVER', 'CAIRN_TOKEN', 'CAIRN_CONTEXT'] });

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('`cairn` alone prints its help on stdout and exits 0; --version prints the version', async () => {
  const alone = await cairn([]);
  expect(alone.status).toBe(0);
  expect(alone.stdout).toContain('Usage: cairn [options] [command]');
  expect(alone.stdout).toContain('completion');
  const version = await cairn(['--version']);
  expect(version).toMatchObject({ status: 0, stdout: `${VERSION}\n` });
  expect((await cairn(['token'])).status).toBe(0);
});

test('usage errors exit 2, as documented: an unknown command, an unknown option, a missing argument', async () => {
  for (const args of [['bogus'], ['status', '--bogus', 'r-1'], ['submit'], ['completion', 'tcsh']]) {
    const result = await cairn(args);
    expect([args.join(' '), result.status]).toEqual([args.join(' '), 2]);
    expect(result.stderr).not.toBe('');
  }
});

test('a server that cannot be reached exits 5 with CAIRN_SERVER_UNREACHABLE naming the URL', async () => {
  const port = await closedPort();
  const result = await cairn(['status', 'r-1'], { env: { CAIRN_SERVER: `http://127.0.0.1:${port}` } });
  expect(result.status).toBe(5);
  expect(result.stderr).toContain(`CAIRN_SERVER_UNREACHABLE: Cannot reach the Cairn server at http://127.0.0.1:${port}/v1/runs/r-1`);
  const json = await cairn(['--json', 'runs'], { env: { CAIRN_SERVER: `http://127.0.0.1:${port}` } });
  expect(json.status).toBe(5);
  expect(JSON.parse(json.stderr)).toMatchObject({ code: 'CAIRN_SERVER_UNREACHABLE' });
});

test('outside a server folder with nothing configured, client commands say every way to name a server (exit 2)', async () => {
  const { cwd, env } = elsewhere();
  const result = await cairn(['runs'], { cwd, env });
  expect(result.status).toBe(2);
  expect(result.stderr).toContain('Which server? Pass --server <url>, set CAIRN_SERVER, add a context');
});

test('client commands work from any folder: CAIRN_SERVER and CAIRN_TOKEN, or a named context kept 0600', { timeout: 60_000 }, async () => {
  const { base, operatorToken, composition } = await start();
  const { runId } = composition.engine.submit(
    { version: 1, name: 'far-away', items: [{ id: 'one', runtime: { kind: 'command', argv: ['/bin/true'] } }] },
    { actor: { kind: 'user', id: 'ana', via: 'cli' } },
  );
  const { cwd, env } = elsewhere();

  const byEnvironment = await cairn(['--json', 'status', runId], { cwd, env: { ...env, CAIRN_SERVER: base, CAIRN_TOKEN: operatorToken } });
  expect(byEnvironment.status, byEnvironment.stderr).toBe(0);
  expect(JSON.parse(byEnvironment.stdout)).toMatchObject({ run: { runId, name: 'far-away' } });

  const added = await cairn(['context', 'add', 'lab', '--server', base, '--token-stdin'], { cwd, env, input: `${operatorToken}\n` });
  expect(added.status, added.stderr).toBe(0);
  expect(added.stdout).toContain('context lab: ');
  expect(added.stdout).toContain('(current)');
  expect(statSync(env['CAIRN_CLIENT_CONFIG']!).mode & 0o777).toBe(0o600);
  const listed = await cairn(['context', 'list'], { cwd, env });
  expect(listed.stdout).toContain(`* lab`);
  expect(listed.stdout).not.toContain(operatorToken);

  const byContext = await cairn(['status', runId], { cwd, env });
  expect(byContext.status, byContext.stderr).toBe(0);
  expect(byContext.stdout).toContain(`run ${runId} (far-away)`);

  // A second context that is not current is chosen by --context or CAIRN_CONTEXT; an unknown one
  // is bad input listing those that exist.
  expect((await cairn(['context', 'add', 'dead', '--server', `http://127.0.0.1:${await closedPort()}`], { cwd, env })).status).toBe(0);
  expect((await cairn(['--context', 'dead', 'status', runId], { cwd, env })).status).toBe(5);
  expect((await cairn(['status', runId], { cwd, env: { ...env, CAIRN_CONTEXT: 'dead' } })).status).toBe(5);
  const unknown = await cairn(['--context', 'nope', 'status', runId], { cwd, env });
  expect(unknown.status).toBe(2);
  expect(unknown.stderr).toContain('There is no context "nope"');
  expect(unknown.stderr).toContain('(there are: lab, dead)');
  expect((await cairn(['context', 'add', 'bad', '--server', 'ftp://x'], { cwd, env })).status).toBe(2);

  expect((await cairn(['context', 'use', 'dead'], { cwd, env })).status).toBe(0);
  expect((await cairn(['status', runId], { cwd, env })).status).toBe(5);
  expect((await cairn(['context', 'rm', 'dead'], { cwd, env })).status).toBe(0);
  const orphaned = await cairn(['runs'], { cwd, env });
  expect(orphaned.status).toBe(2);
  expect(orphaned.stderr).toContain('Which server?');
});

// Three shells and a dozen completions, each a process: 20 s was too short beside other test files.
test('completion scripts are accepted by the real shells, and bash completes commands, subcommands and options', { timeout: 60_000 }, async () => {
  const { cwd } = elsewhere();
  const scripts = Object.fromEntries(
    await Promise.all(['bash', 'zsh', 'fish'].map(async (shell) => [shell, (await cairn(['completion', shell])).stdout] as const)),
  );
  for (const [shell, script] of Object.entries(scripts)) writeFileSync(join(cwd, `cairn.${shell}`), script);
  const complete = (words: string[]) =>
    spawnSync(
      'bash',
      [
        '-c',
        `source ${join(cwd, 'cairn.bash')}; COMP_WORDS=(${words.map((word) => `'${word}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _cairn; echo "\${COMPREPLY[@]}"`,
      ],
      { encoding: 'utf8' },
    ).stdout.trim();
  expect(complete(['cairn', 'sub'])).toBe('submit');
  expect(complete(['cairn', 'token', 'cr'])).toBe('create');
  expect(complete(['cairn', 'submit', '--wo'])).toBe('--workspace');
  expect(complete(['cairn', 'token', 'create', '--sc'])).toBe('--scope');
  expect(complete(['cairn', 'comp'])).toBe('completion');

  const zsh = spawnSync('zsh', ['-n', join(cwd, 'cairn.zsh')], { encoding: 'utf8' });
  expect(zsh.status, zsh.stderr).toBe(0);
  // zsh's own completion system loads it and offers the commands.
  const zshLoaded = spawnSync(
    'zsh',
    ['-c', `autoload -Uz compinit && compinit -u -d ${join(cwd, 'zcompdump')} && source ${join(cwd, 'cairn.zsh')} && print -r -- $_comps[cairn]`],
    { encoding: 'utf8' },
  );
  expect(zshLoaded.stdout.trim(), zshLoaded.stderr).toBe('_cairn');

  const fish = spawnSync('fish', ['--no-config', '-c', `source ${join(cwd, 'cairn.fish')}; complete -C 'cairn tok'; complete -C 'cairn token cr'`], {
    encoding: 'utf8',
  });
  expect(fish.status, fish.stderr).toBe(0);
  expect(fish.stdout).toMatch(/^token\t/m);
  expect(fish.stdout).toMatch(/^create\t/m);
});

test('Ctrl-C during submit --wait stops following, not the run, and says how to follow it again', { timeout: 60_000 }, async () => {
  const { base, operatorToken, composition, directory } = await start();
  const spec = join(directory, 'slow.yaml');
  writeFileSync(spec, 'version: 1\nname: slow\nitems:\n  - { id: slow, runtime: { kind: command, argv: [/bin/sleep, "30"] } }\n');
  const env: Record<string, string | undefined> = { ...process.env, CAIRN_SERVER: base, CAIRN_TOKEN: operatorToken };
  delete env['NODE_EXTRA_CA_CERTS'];
  const child = spawn(process.execPath, ['--conditions=@cairn/source', join(here, 'cli.ts'), 'submit', spec, '--wait'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const runId = await new Promise<string>((resolve) =>
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const found = /^run (r-\S+)$/m.exec(stdout);
      if (found) resolve(found[1]!);
    }),
  );
  // Interrupt once the item runs, as a user watching it would.
  for (let tries = 0; composition.engine.items(runId)[0]?.state !== 'running' && tries < 200; tries++) await new Promise((resolve) => setTimeout(resolve, 50));
  child.kill('SIGINT');
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect(status).toBe(130);
  expect(stderr).toContain(`Follow it again with: cairn watch ${runId}`);
  expect(composition.engine.run(runId)?.state).toBe('running');
  composition.engine.cancelRun(runId, { kind: 'user', id: 'test', via: 'cli' });
});

test('submit --workspace with a folder that does not exist is bad input (exit 2) naming it, with no stack trace', async () => {
  const { cwd } = elsewhere();
  writeFileSync(join(cwd, 'run.yaml'), 'version: 1\nname: x\nitems:\n  - { id: a, runtime: { kind: command, argv: [/bin/true] } }\n');
  const result = await cairn(['submit', 'run.yaml', '--workspace', './my-repo', '--server', `http://127.0.0.1:${await closedPort()}`], { cwd });
  expect(result.status).toBe(2);
  expect(result.stderr).toContain('CAIRN_PAYLOAD_INVALID: Cannot snapshot the workspace ./my-repo: there is no such folder');
  expect(result.stderr).not.toContain('    at ');
});
