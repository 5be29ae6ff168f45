// Every `cairn` call loads every command file, and the tests spawn `cairn` hundreds of times: a
// command that only speaks HTTP, or prints the help, must not load the server (its config schemas,
// the engine, evidence checks, identity providers, databases, SDKs). A module hook in the child
// lists the files it loaded; a command file that imports one of these at its top fails here (see
// the note in cli-commands.ts). And `cairn` keeps the code V8 compiled of its modules on disk, so
// that the next start compiles only what changed. bench/cli-startup.ts measures what this saves.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';

const scratch = mkdtempSync(join(tmpdir(), 'cairn-cli-startup-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const hook = join(scratch, 'list-modules.mjs');
writeFileSync(
  hook,
  `import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';
const loaded = [];
registerHooks({ load(url, context, next) { if (url.startsWith('file:')) loaded.push(url); return next(url, context); } });
process.on('exit', () => writeFileSync(process.env.CAIRN_TEST_MODULES_FILE, loaded.join('\\n')));
process.on('exit', () => writeFileSync(process.env.CAIRN_TEST_MODULES_FILE + '.builtins', process.moduleLoadList.join('\\n')));
`,
);

/** What only a command that works on a server's data, or checks evidence, may load. */
const serverModules = [
  /\/config\/server-config-schema\.ts$/,
  /\/packages\/(engine|oidc|audit|local|worker|s3|kms|fargate|mcp)\//,
  /\/node_modules\/(.*\/)?(better-sqlite3|pg|openid-client|jose|fastify|@aws-sdk\/[^/]+|@modelcontextprotocol\/sdk)\//,
];

/** The built `cairn`, as users run it. */
const builtCli = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');

/**
 * Runs `cairn` from its source in `cwd`, as the tests do (or `built`, from dist), and lists the
 * module files it loaded, and Node's built-in modules (`process.moduleLoadList`).
 */
function modulesOf(
  args: readonly string[],
  env: Record<string, string> = {},
  built = false,
): Promise<{ status: number | null; stderr: string; modules: string[]; builtins: string[] }> {
  const modulesFile = join(scratch, 'modules.txt');
  const childEnv: Record<string, string | undefined> = { ...process.env, ...env, CAIRN_TEST_MODULES_FILE: modulesFile };
  for (const name of ['NODE_EXTRA_CA_CERTS', 'NODE_COMPILE_CACHE', 'NODE_DISABLE_COMPILE_CACHE', 'CAIRN_SERVER', 'CAIRN_CONTEXT', 'CAIRN_TOKEN'])
    if (!(name in env)) delete childEnv[name];
  return new Promise((resolve) => {
    const entry = built ? [builtCli] : ['--conditions=@cairn/source', join(import.meta.dirname, 'cli.ts')];
    const child = spawn(process.execPath, ['--import', hook, ...entry, ...args], {
      cwd: scratch,
      env: childEnv,
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.resume();
    child.on('close', (status) =>
      resolve({
        status,
        stderr,
        modules: readFileSync(modulesFile, 'utf8').split('\n'),
        builtins: readFileSync(`${modulesFile}.builtins`, 'utf8').split('\n'),
      }),
    );
  });
}

const serverModulesIn = (modules: readonly string[]) => modules.filter((url) => serverModules.some((pattern) => pattern.test(url)));

/** The address of a loopback port nothing listens on (one just freed). */
async function refusingAddress(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

test('cairn --help loads no server module', { timeout: 30_000 }, async () => {
  const help = await modulesOf(['--help']);
  expect(help.status, help.stderr).toBe(0);
  expect(help.modules.some((url) => url.endsWith('/cli/cli-program.ts'))).toBe(true);
  expect(serverModulesIn(help.modules)).toEqual([]);
});

test('client commands that only speak HTTP load no server module, by --server or by the current context', { timeout: 30_000 }, async () => {
  const server = await refusingAddress();
  const byFlag = await modulesOf(['runs', '--server', server]);
  expect(byFlag.stderr).toContain('CAIRN_SERVER_UNREACHABLE');
  expect(byFlag.status).toBe(5);
  expect(serverModulesIn(byFlag.modules)).toEqual([]);

  // No --server: the command looks for a server folder here (none), then takes the current context.
  const clientConfig = join(scratch, 'client.yaml');
  writeFileSync(clientConfig, `current: here\ncontexts:\n  here:\n    server: ${server}\n`);
  const byContext = await modulesOf(['status', 'r-1'], { CAIRN_CLIENT_CONFIG: clientConfig });
  expect(byContext.stderr).toContain('CAIRN_SERVER_UNREACHABLE');
  expect(byContext.status).toBe(5);
  expect(serverModulesIn(byContext.modules)).toEqual([]);
});

test('a command that reads the server config loads it when it runs', { timeout: 30_000 }, async () => {
  // The check above would pass as well if the hook saw nothing: this one sees the config's schemas.
  writeFileSync(join(scratch, 'cairn.config.yaml'), 'server: { port: 1 }\n');
  try {
    const inFolder = await modulesOf(['runs']);
    expect(inFolder.status).not.toBe(0);
    expect(serverModulesIn(inFolder.modules)).toContainEqual(expect.stringMatching(/\/config\/server-config-schema\.ts$/));
  } finally {
    rmSync(join(scratch, 'cairn.config.yaml'));
  }
});

test(
  "cairn keeps the compiled code of its modules in the user's cache folder, not the shared temporary one, for the next start",
  { timeout: 30_000 },
  async () => {
    // The default place (no NODE_COMPILE_CACHE given), with a cache folder and a temporary folder of this test's own.
    const cacheHome = mkdtempSync(join(scratch, 'cache-'));
    const temporary = mkdtempSync(join(scratch, 'tmp-'));
    const help = await modulesOf(['--help'], { XDG_CACHE_HOME: cacheHome, TMPDIR: temporary });
    expect(help.status, help.stderr).toBe(0);
    expect(readdirSync(temporary)).toEqual([]);
    const cached = readdirSync(join(cacheHome, 'cairn', 'node-compile-cache'), { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile());
    // One entry per module compiled; the command files are among them, so well over a hundred.
    expect(cached.length).toBeGreaterThan(100);
  },
);

test("a client command loads no zod: the client's settings are checked by its schema only when not plainly right", { timeout: 30_000 }, async () => {
  const zodIn = (modules: readonly string[]) => modules.filter((url) => /\/node_modules\/(.*\/)?zod\//.test(url));
  const server = await refusingAddress();
  for (const args of [
    ['runs', '--server', server],
    ['status', 'r-1', '--server', server],
    // A spec's text is decoded and sent: the server checks it (without --workspace, nothing checks it here).
    ['submit', join(import.meta.dirname, '..', '..', 'demo', 'run.yaml'), '--server', server],
  ]) {
    const command = await modulesOf(args);
    expect(command.stderr).toContain('CAIRN_SERVER_UNREACHABLE');
    expect(command.status).toBe(5);
    expect(zodIn(command.modules), args.join(' ')).toEqual([]);
  }
  // Through a context of the client config: the file is checked without zod as well.
  const clientConfig = join(scratch, 'client-for-zod.yaml');
  writeFileSync(clientConfig, `current: here\ncontexts:\n  here:\n    server: ${server}\n    token: cairn_abc\n`);
  const byContext = await modulesOf(['status', 'r-1'], { CAIRN_CLIENT_CONFIG: clientConfig });
  expect(byContext.stderr).toContain('CAIRN_SERVER_UNREACHABLE');
  expect(zodIn(byContext.modules)).toEqual([]);
  // A broken file is refused as before, worded by the schema.
  writeFileSync(clientConfig, `current: here\ncontexts:\n  here:\n    server: ftp://127.0.0.1\n`);
  const broken = await modulesOf(['status', 'r-1'], { CAIRN_CLIENT_CONFIG: clientConfig });
  expect(broken.status).toBe(2);
  expect(broken.stderr).toContain(`The client config ${clientConfig} is invalid at contexts.here.server: must be an http(s) URL.`);
  // The same refusal as before, worded by the schema (which the hook then sees loaded).
  const refused = await modulesOf(['runs', '--server', 'ftp://127.0.0.1']);
  expect(refused.status).toBe(2);
  expect(refused.stderr).toContain('CAIRN_CONFIG_INVALID: [cairn] [client] invalid settings: "client.baseUrl" must be an http(s) URL');
  expect(zodIn(refused.modules)).not.toEqual([]);
});

test(
  "runs and status make their request without fetch's HTTP stack (undici, half their start), from the source and from dist",
  { timeout: 30_000 },
  async () => {
    if (!existsSync(builtCli)) throw new Error(`${builtCli} is missing: build it with \`pnpm --filter @cairn/server build\` before this test.`);
    const server = await refusingAddress();
    for (const built of [false, true])
      for (const args of [
        ['runs', '--server', server],
        ['status', 'r-1', '--server', server],
      ]) {
        const command = await modulesOf(args, {}, built);
        const where = `${args.join(' ')} from ${built ? 'dist' : 'the source'}`;
        expect(command.stderr, where).toContain(`CAIRN_SERVER_UNREACHABLE: Cannot reach the Cairn server at ${server}/v1/runs`);
        expect(command.stderr, where).toContain(': ECONNREFUSED. Is `cairn serve` running there?');
        expect(command.status, where).toBe(5);
        // Not vacuous: the list names Node's HTTP client, through which the request went.
        expect(command.builtins, where).toContain('NativeModule _http_client');
        expect(
          command.builtins.filter((name) => name.includes('undici')),
          where,
        ).toEqual([]);
      }
  },
);
