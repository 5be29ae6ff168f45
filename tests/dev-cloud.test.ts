// docs/operations/try-aws-locally.md runs as written: its shell blocks, in order, by bash, from the
// checkout, in a fresh home, with the checkout's `cairn` on PATH. `scripts/dev-cloud.sh` starts the
// S3 gateway (or shares the one the test command started), the KMS endpoint and the TSA; a server
// on them runs an item, and its bundle verifies witnessed with the Object Lock anchor read live.
// The dev cloud's state goes to a folder of this test (CAIRN_DEV_CLOUD_DIR), never the checkout's
// .dev-cloud. When the worker image is built from the current worker bundle (the test command builds
// it before vitest), the walkthrough runs with `up --with-fargate`, as the page's Fargate section
// says: the item is then a task of that image on the ECS endpoint. Otherwise it runs without, so
// the file never pays for an image build.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createServer } from 'node:net';
import { afterAll, expect, onTestFinished, test } from 'vitest';
import { freePort } from './support/free-port.ts';
import { runReaderBlock, shellBlocks } from './support/reader-shell.ts';
import { repositoryRoot } from './support/workspace.ts';

const page = 'docs/operations/try-aws-locally.md';
const home = mkdtempSync(join(tmpdir(), 'cairn-dev-cloud-'));
const state = join(home, '.state');

/** The environment a reader's shell has: this checkout's cairn, a fresh home, a free port. */
async function readerEnvironment(): Promise<NodeJS.ProcessEnv> {
  return {
    HOME: home,
    LANG: 'C.UTF-8',
    PATH: [
      join(repositoryRoot, '.tools', 'bin'),
      dirname(process.execPath),
      '/usr/local/sbin',
      '/usr/local/bin',
      '/usr/sbin',
      '/usr/bin',
      '/sbin',
      '/bin',
    ].join(':'),
    CAIRN_PORT: String(await freePort()),
    CAIRN_DEV_CLOUD_DIR: state,
    // Where the test command's S3 gateway and worker image are, when it moved them.
    ...Object.fromEntries(
      ['CAIRN_RADOSGW_DIR', 'CAIRN_RADOSGW_PORT', 'CAIRN_WORKER_IMAGE_DIR', 'CAIRN_DEBIAN_MIRRORS'].flatMap((name) =>
        process.env[name] === undefined ? [] : [[name, process.env[name]]],
      ),
    ),
  };
}

afterAll(async () => {
  // Whatever happened, the endpoints this test started stop (down is a no-op when they are down).
  spawnSync('bash', ['scripts/dev-cloud.sh', 'down'], { cwd: repositoryRoot, env: await readerEnvironment(), stdio: 'ignore' });
  chmodSync(home, 0o700);
  rmSync(home, { recursive: true, force: true });
});

/** Whether the built worker image holds the current worker bundle (so `up --with-fargate` builds nothing). */
function workerImageIsCurrent(): boolean {
  const rootfsWorker = join(
    process.env['CAIRN_WORKER_IMAGE_DIR'] ?? join(repositoryRoot, '.tools', 'worker-image'),
    'rootfs',
    'opt',
    'cairn',
    'cairn-worker.js',
  );
  const bundle = join(repositoryRoot, 'packages', 'fargate', 'dist', 'cairn-worker.js');
  return existsSync(rootfsWorker) && existsSync(bundle) && readFileSync(rootfsWorker).equals(readFileSync(bundle));
}

/** Listens on 127.0.0.1:`port` until the test ends, as the getting-started server would; nothing when it is taken already. */
async function holdPort(port: number): Promise<() => Promise<void>> {
  const holder = createServer();
  const held = await new Promise<boolean>((resolve) => {
    holder.once('error', () => resolve(false));
    holder.listen(port, '127.0.0.1', () => resolve(true));
  });
  return () => (held ? new Promise((resolve) => holder.close(() => resolve())) : Promise.resolve());
}

test(`${page} runs as written: dev-cloud up, a server on S3, KMS and the TSA, a bundle that verifies witnessed, down`, { timeout: 240_000 }, async () => {
  const env = await readerEnvironment();
  // The getting-started server may still run on the docs' port: up's config must name another.
  const releasePort = await holdPort(7600);
  onTestFinished(releasePort);
  const [walkthrough, stop] = shellBlocks(page);
  expect(walkthrough).toContain('bash scripts/dev-cloud.sh up ');
  const fargate = workerImageIsCurrent();
  const started = await runReaderBlock(
    fargate ? walkthrough!.replace('bash scripts/dev-cloud.sh up ', 'bash scripts/dev-cloud.sh up --with-fargate ') : walkthrough!,
    env,
  );
  const serveLog = join(home, 'cairn-aws', 'serve.log');
  expect(started.status, `${started.output}\n${existsSync(serveLog) ? readFileSync(serveLog, 'utf8') : ''}`).toBe(0);
  // The state folder is private, and the config the server ran is the one up printed.
  expect(statSync(state).mode & 0o777).toBe(0o700);
  const config = readFileSync(join(home, 'cairn-aws', 'cairn.config.yaml'), 'utf8');
  expect(started.output).toContain(config.trim());
  expect(config).toMatch(/^storage:\n {2}kind: s3\n/m);
  expect(config).toMatch(/^ {2}- kind: s3-object-lock$/m);
  expect(config).toMatch(/^ {2}- kind: rfc3161$/m);
  expect(config).toMatch(/^signer:\n {2}kind: kms\n/m);
  expect(config).toMatch(/^cipher:\n {2}kind: kms\n/m);
  expect(config).not.toMatch(/accessKeyId|secretAccessKey/);
  const serverPort = Number(/^ {2}port: (\d+)$/m.exec(config)?.[1]);
  expect(serverPort).toBeGreaterThan(7600);
  expect(config).toContain(
    `# port 7600 is taken on 127.0.0.1 (another cairn serve, such as the getting-started one?): this config's server listens on ${serverPort}`,
  );
  expect(started.output).toMatch(/^\[dev-cloud\] port 7600 is taken on 127\.0\.0\.1/m);
  expect(config).toMatch(fargate ? /^executor:\n {2}kind: fargate\n/m : /^executor:\n {2}kind: local\n/m);
  // cairn doctor passed every seam (the block runs under -e), the KMS keys and the TSA among them.
  expect(started.output).toMatch(/^ok {4}signer kms:Sign /m);
  expect(started.output).toMatch(/^ok {4}anchors\[1\] rfc3161 .*a probe was stamped/m);
  if (fargate) expect(started.output).toMatch(/^ok {4}executor fargate ECS answers for cluster cairn/m);
  expect(started.output).toContain('run succeeded');
  expect(started.output).toMatch(/^valid: true, claim: witnessed, verdict: verified$/m);
  expect(started.output).toMatch(
    /^ {2}pass {8}anchor {15}read live: s3-object-lock:s3:\/\/cairn-test-\S+ at http:\/\/127\.0\.0\.1:\d+ \(external-immutable\)/m,
  );
  expect(started.output).toMatch(/^ {2}pass {8}timestamp {12}the checkpoint was stamped by CN=Cairn Test TSA/m);

  const status = spawnSync('bash', ['scripts/dev-cloud.sh', 'status'], { cwd: repositoryRoot, env, encoding: 'utf8' });
  expect(status.status, status.stderr).toBe(0);
  expect(status.stdout).toMatch(/^KMS {9}http:\/\/127\.0\.0\.1:\d+ {2}keys /m);
  expect(status.stdout).toContain(`server      the config serves on 127.0.0.1:${serverPort} (7600 was taken when up ran)`);
  const pid = Number(readFileSync(join(state, 'pid'), 'utf8'));

  const stopped = await runReaderBlock(stop!, env);
  expect(stopped.status, stopped.output).toBe(0);
  expect(existsSync(state)).toBe(false);
  expect(() => process.kill(pid, 0)).toThrow();
  const after = spawnSync('bash', ['scripts/dev-cloud.sh', 'status'], { cwd: repositoryRoot, env, encoding: 'utf8' });
  expect([after.status, after.stdout.trim()]).toEqual([1, 'down']);
});
