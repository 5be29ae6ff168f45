// The cairn-server image (apps/server/image/build-image.sh) as docs/operations/container.md runs it:
// under Debian's podman, its init as the image's user, the server answering /readyz and its health
// check, then the demo's sample run through it from the host; and a second assembly from the same
// worker image and server tree that gives the same manifest digest.
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './support/free-port.ts';
import { repositoryRoot } from './support/workspace.ts';

interface ImageRecord {
  digest: string;
  size: number;
  layers: string[];
  bundle: string;
}

const script = join(repositoryRoot, 'apps/server/image/build-image.sh');
const imageDirectory = join(repositoryRoot, '.tools/server-image');
const workerImageDirectory = process.env['CAIRN_WORKER_IMAGE_DIR'] ?? join(repositoryRoot, '.tools/worker-image');
// Not /tmp (mode 711 here, where podman's helpers cannot write as other users).
const scratch = mkdtempSync('/var/tmp/cairn-server-image-test-');
const readImage = (directory: string) => JSON.parse(readFileSync(join(directory, 'image.json'), 'utf8')) as ImageRecord;

/** This machine's podman settings (container.md, "This machine's podman settings"): runc, not crun; limits it may set. */
function podmanEnvironment(): NodeJS.ProcessEnv {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const hard = (name: string) => new RegExp(`^${name}\\s+\\S+\\s+(\\S+)`, 'm').exec(limits)![1]!;
  // runc was refused this process's own hard process limit (96,365 here) and ran with 4,096, enough for the demo's sandboxes.
  const processes = Math.min(Number(hard('Max processes')), 4096);
  const containersConf = join(scratch, 'containers.conf');
  writeFileSync(
    containersConf,
    [
      '[containers]',
      `default_ulimits = ["nofile=${hard('Max open files')}:${hard('Max open files')}", "nproc=${processes}:${processes}"]`,
      '[engine]',
      'runtime = "runc"',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      '',
    ].join('\n'),
  );
  const storageConf = join(scratch, 'storage.conf');
  writeFileSync(storageConf, `[storage]\ndriver = "overlay"\ngraphroot = "${scratch}/storage"\nrunroot = "${scratch}/run"\n`);
  const env: NodeJS.ProcessEnv = { ...process.env, CONTAINERS_CONF: containersConf, CONTAINERS_STORAGE_CONF: storageConf, TMPDIR: scratch };
  delete env['NODE_EXTRA_CA_CERTS'];
  return env;
}
const env = podmanEnvironment();
// The limit only ends a hung podman; on a loaded machine a `podman run` takes well over a minute.
const podman = (...args: string[]) => spawnSync('podman', args, { encoding: 'utf8', env, timeout: 600_000 });

/** The page's podman block, as written but for the port: a free one instead of 8080. */
function containerBlock(port: number): string {
  const page = readFileSync(join(repositoryRoot, 'docs/operations/container.md'), 'utf8');
  const block = /^```sh\n([\s\S]*?)^```/m.exec(page)![1]!;
  expect(block).toMatch(/^port=8080$/m);
  return block.replace(/^port=8080$/m, `port=${port}`);
}

interface Finished {
  status: number | null;
  stdout: string;
  stderr: string;
}
/** Runs a command without blocking this process, so two can run at once. */
function finished(command: string, args: string[], options: { cwd?: string; env: NodeJS.ProcessEnv; timeout: number }): Promise<Finished> {
  return new Promise((resolve) => {
    execFile(command, args, { ...options, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ status: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** Runs a command with its stderr shown as it goes (the build's progress), without blocking this process. */
function ran(command: string, args: string[], options: { cwd?: string; env: NodeJS.ProcessEnv; timeout: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('close', (code, signal) =>
      code === 0
        ? resolve()
        : reject(new Error(`${command} ${args.join(' ')} ended with ${signal ?? `exit code ${code}`} (limit ${options.timeout / 1000} s)`)),
    );
  });
}

let built: ImageRecord;
let block: Finished;
let blockSeconds: number;
let secondAssembly: Promise<Finished>;
// A failed or timed-out setup fails every test that needs the image, naming why: a hook that
// throws would leave them reported as skipped, which a count of passes does not show.
let setupError: unknown;
function needsImage(): void {
  if (setupError !== undefined) throw new Error('building or running the server image failed; this test could not run', { cause: setupError });
}
// Nothing here is timed: the limits (builds on a loaded machine have taken over ten minutes) only end a hung step.
beforeAll(async () => {
  try {
    await setUp();
  } catch (error) {
    setupError = error;
  }
}, 3_600_000);

async function setUp(): Promise<void> {
  // Built here, not in a step of the test command before vitest: only this file runs the image, and
  // here its build (pnpm deploy, the second layer) overlaps the other files vitest runs beside it.
  // It stands on the worker image, which the test command builds before vitest.
  // Outside the test command (which bundles the worker before vitest), the worker image needs its bundle.
  if (!process.env['CAIRN_WORKER_BUNDLE'] && !existsSync(join(repositoryRoot, 'packages/fargate/dist/cairn-worker.js'))) {
    const bundle = "await (await import('./packages/fargate/src/testing/worker-bundle.test-support.ts')).default()";
    await ran(process.execPath, ['--input-type=module', '-e', bundle], { cwd: repositoryRoot, env: process.env, timeout: 1_200_000 });
  }
  await ran('bash', [script], { env: process.env, timeout: 1_800_000 });
  // What the second assembly starts from, copied now: the page's block builds again when a package's
  // dist/ changed meanwhile (another build in this checkout), replacing .tools/server-image.
  built = readImage(imageDirectory);
  execFileSync('cp', ['-a', join(imageDirectory, 'tree'), join(scratch, 'tree')]);
  // The second assembly (CPU: dpkg, tar, gzip) runs while the page's block mostly waits on the
  // server and the demo: the file takes the longer of the two, not their sum.
  secondAssembly = finished('bash', [script, join(scratch, 'tree')], {
    env: { ...process.env, CAIRN_SERVER_IMAGE_DIR: join(scratch, 'again'), CAIRN_IMAGE_FORCE: '1' },
    timeout: 1_800_000,
  });
  const started = Date.now();
  // Loads the image into podman, inits the volume, serves, waits for /readyz, runs the health check and the demo.
  block = await finished('bash', ['-euo', 'pipefail', '-c', containerBlock(await freePort())], { cwd: repositoryRoot, env, timeout: 1_200_000 });
  blockSeconds = (Date.now() - started) / 1000;
}

afterAll(() => {
  podman('rm', '--force', '--time', '0', 'cairn');
  podman('volume', 'rm', '--force', 'cairn-state');
  podman('rmi', '--force', 'localhost/cairn-server');
  rmSync(scratch, { recursive: true, force: true });
  // Stopping the server and removing podman's store (the image's layers) take seconds each.
}, 1_800_000);

describe('the cairn-server image under podman, as docs/operations/container.md runs it', () => {
  it('runs as written: the server answers /readyz, is healthy, and runs the demo sample twice with its evidence verified', () => {
    needsImage();
    const run = block;
    expect(run.status, `${run.stderr}\n${run.stdout}\n${podman('logs', 'cairn').stderr}`).toBe(0);
    expect(run.stdout).toMatch(/^\{"ready":true,/m);
    expect(run.stdout.match(/^run succeeded: 5\/5 items finished, 0 failed$/gm)).toHaveLength(2);
    expect(run.stdout).toContain('tidy-readme      was awaiting approval: approved by the operator');
    expect(run.stdout).toContain('valid: true, claim: tamper-detecting, verdict: verified');
    console.log(`container.md's block took ${blockSeconds.toFixed(1)} s`);
  });

  it("is the worker image's layer plus one: entrypoint cairn, serve with the config in the volume, uid 1000, port 8080, no more than 150 MB", () => {
    needsImage();
    const image = readImage(imageDirectory);
    expect(image.layers).toHaveLength(2);
    expect(image.layers[0]).toBe(readImage(workerImageDirectory).layers[0]);
    expect(image.size).toBeLessThan(150_000_000);
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci:${imageDirectory}/oci:cairn-server`], { encoding: 'utf8' })) as {
      created: string;
      config: { User: string; Entrypoint: string[]; Cmd: string[]; WorkingDir: string; Volumes: object; ExposedPorts: object; Labels: Record<string, string> };
    };
    expect(inspected.created).toBe('2025-05-20T00:00:00Z');
    expect(inspected.config).toMatchObject({
      User: '1000:1000',
      Entrypoint: ['cairn'],
      Cmd: ['--config', '/var/lib/cairn/cairn.config.yaml', 'serve'],
      WorkingDir: '/var/lib/cairn',
      Volumes: { '/var/lib/cairn': {} },
      ExposedPorts: { '8080/tcp': {} },
    });
    expect(inspected.config.Labels['org.opencontainers.image.title']).toBe('cairn-server');
    expect(inspected.config.Labels['org.opencontainers.image.base.digest']).toBe(readImage(workerImageDirectory).digest);
  });

  it('holds bubblewrap and slirp4netns at the versions packages.lock pins, git, and runs as uid 1000', () => {
    needsImage();
    const result = podman(
      'run',
      '--rm',
      '--entrypoint',
      'sh',
      'localhost/cairn-server',
      '-c',
      'id -u; bwrap --version; slirp4netns --version | head -n 1; git --version',
    );
    expect(result.status, result.stderr).toBe(0);
    const lock = readFileSync(join(repositoryRoot, 'apps/server/image/packages.lock'), 'utf8');
    const pinned = (name: string) => new RegExp(`^${name} (\\S+)$`, 'm').exec(lock)![1]!;
    const [uid, bwrap, slirp, git] = result.stdout.trim().split('\n');
    expect(uid).toBe('1000');
    expect(pinned('bubblewrap')).toContain(bwrap!.replace('bubblewrap ', ''));
    expect(pinned('slirp4netns')).toContain(slirp!.replace('slirp4netns version ', ''));
    expect(git).toMatch(/^git version 2\./);
  });

  it('has the health check compose.yaml gives the server', () => {
    const compose = readFileSync(join(repositoryRoot, 'compose.yaml'), 'utf8');
    const healthCommand = /--health-cmd '(\[.*\])'/.exec(readFileSync(join(repositoryRoot, 'docs/operations/container.md'), 'utf8'))![1]!;
    expect(compose).toContain(`test: ${JSON.stringify(['CMD', ...(JSON.parse(healthCommand) as string[])])}`);
  });
});

// What this proves: the assembly (the dpkg layer, the tar, umoci) turns the same worker image, lock
// and deployed server into the same bytes. What it does not: that a second pnpm deploy gives the
// same tree (the inputs hash records the lockfile and every dist/ it deployed from), or that a second
// mmdebstrap gives the same first layer (worker-image.test.ts builds that from scratch).
it('is reproducible: a second assembly from the same worker image and server tree gives the same digest', { timeout: 1_800_000 }, async () => {
  needsImage();
  const image = built;
  const again = await secondAssembly;
  expect(again.status, again.stderr).toBe(0);
  expect(again.stdout).toBe(`digest ${image.digest}\nsize ${image.size}\n`);
  expect(readImage(join(scratch, 'again')).bundle).toBe(image.bundle);
});
