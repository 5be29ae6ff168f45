import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const repositoryRoot = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Where build-image.sh leaves the image (`CAIRN_WORKER_IMAGE_DIR`, else `.tools/worker-image`):
 * `oci/` (the OCI layout, tag cairn-worker), `rootfs/` (unpacked), `config.json` (its OCI
 * runtime config) and `image.json` (digest, size, entrypoint, user, env).
 */
export function workerImageDirectory(): string {
  return process.env.CAIRN_WORKER_IMAGE_DIR ?? `${repositoryRoot}.tools/worker-image`;
}

/**
 * The bundle put in the image: `CAIRN_WORKER_BUNDLE`, else the fargate package's built
 * `dist/cairn-worker.js`, else a stand-in that reports what it sees (test/fixture-worker.js), so
 * the image's own tests run before the worker is built.
 */
export function workerBundlePath(): string {
  if (process.env.CAIRN_WORKER_BUNDLE) return process.env.CAIRN_WORKER_BUNDLE;
  const built = `${repositoryRoot}packages/fargate/dist/cairn-worker.js`;
  return existsSync(built) ? built : fileURLToPath(new URL('./test/fixture-worker.js', import.meta.url));
}

/** What a runner needs to start the built image's entrypoint from its unpacked root filesystem. */
export interface WorkerImageDefinition {
  /** The unpacked root filesystem, to bind read-only at `/`. */
  readonly rootfs: string;
  /** The image's entrypoint (`["node", "/opt/cairn/cairn-worker.js"]`). */
  readonly entrypoint: readonly string[];
  /** `uid:gid` the entrypoint runs as (`1000:1000`). */
  readonly user: string;
  /** The image's environment (PATH, HOME, NODE_ENV); a task's overrides are added to it. */
  readonly environment: Readonly<Record<string, string>>;
  /** The working directory (`/workspace`), a mount point for a writable volume. */
  readonly workingDirectory: string;
  /** The manifest digest build-image.sh printed. */
  readonly digest: string;
}

/**
 * The built image as the ECS test endpoint runs it, read from `image.json` (build-image.sh writes
 * it from the image config that skopeo read back), so a test runs exactly what the image says.
 */
export function workerImageDefinition(directory: string = workerImageDirectory()): WorkerImageDefinition {
  const image = JSON.parse(readFileSync(`${directory}/image.json`, 'utf8')) as {
    digest: string;
    entrypoint: string[];
    user: string;
    env: string[];
    workingDir: string;
  };
  const environment: Record<string, string> = {};
  for (const entry of image.env) {
    const separator = entry.indexOf('=');
    environment[entry.slice(0, separator)] = entry.slice(separator + 1);
  }
  return {
    rootfs: `${directory}/rootfs`,
    entrypoint: image.entrypoint,
    user: image.user,
    environment,
    workingDirectory: image.workingDir,
    digest: image.digest,
  };
}
