import { chmodSync, closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestTaskDefinition } from './ecs-task.ts';

/** The root filesystem `workerTestRootfs` makes, as a task definition, and how to remove it. */
export interface WorkerTestRootfs {
  readonly definition: TestTaskDefinition;
  /** Removes the root filesystem's folder (its mount points; nothing of the host). */
  remove(): void;
}

/**
 * A STAND-IN for the worker image's unpacked OCI root filesystem, for tests until one is built: an
 * empty tree of mount points, with the host's /usr, /etc and /lib* bound read-only, this machine's
 * Node at /opt/node/bin/node and the built `dist/cairn-worker.js` at /opt/cairn/cairn-worker.js (where
 * the image has them). It runs what the image runs, the way the image runs it (`node
 * /opt/cairn/cairn-worker.js` as uid 1000, no host environment), but it is the host's programs, not
 * the image's: tests of the image itself use its rootfs. `files` are written into the tree (under
 * /opt, say: /usr is the host's), e.g. a stand-in agent CLI at /opt/agent/bin/claude.
 */
export function workerTestRootfs(
  options: {
    readonly workerScript?: string;
    readonly node?: string;
    readonly environment?: Readonly<Record<string, string>>;
    /** Files of the tree by absolute path in the container, with their content and mode (0644 by default). */
    readonly files?: Readonly<Record<string, { readonly content: string; readonly mode?: number }>>;
    /** The container's user, `1000:1000` (the image's) by default; `0:0` as the Cairn stack's task definition runs it. */
    readonly user?: string;
    /** The task definition's capabilities (see TestTaskDefinition). */
    readonly capabilities?: TestTaskDefinition['capabilities'];
  } = {},
): WorkerTestRootfs {
  const workerScript = options.workerScript ?? fileURLToPath(new URL('../../dist/cairn-worker.js', import.meta.url));
  if (!existsSync(workerScript)) throw new Error(`${workerScript} is missing: build it first (pnpm --filter @cairn/fargate build)`);
  const node = options.node ?? process.execPath;
  const rootfs = mkdtempSync(join(tmpdir(), 'cairn-worker-rootfs-'));
  // An image's / is 0755: a runtime of another user than the container's (a root worker's) passes through it.
  chmodSync(rootfs, 0o755);
  const binds: { source: string; target: string }[] = [];
  for (const folder of ['usr', 'etc', 'lib', 'lib32', 'lib64', 'bin', 'sbin']) {
    const host = `/${folder}`;
    if (!existsSync(host)) continue;
    // A merged-/usr host has /lib as a link into /usr: the rootfs gets the same link.
    if (lstatSync(host).isSymbolicLink()) symlinkSync(readlinkSync(host), join(rootfs, folder));
    else {
      mkdirSync(join(rootfs, folder));
      binds.push({ source: host, target: host });
    }
  }
  for (const folder of ['tmp', 'proc', 'dev', 'opt/node/bin', 'opt/cairn']) mkdirSync(join(rootfs, folder), { recursive: true });
  for (const file of ['opt/node/bin/node', 'opt/cairn/cairn-worker.js']) closeSync(openSync(join(rootfs, file), 'w'));
  binds.push({ source: node, target: '/opt/node/bin/node' }, { source: workerScript, target: '/opt/cairn/cairn-worker.js' });
  for (const [path, file] of Object.entries(options.files ?? {})) {
    const bound = binds.find((bind) => path === bind.target || path.startsWith(`${bind.target}/`));
    if (!path.startsWith('/') || path.split('/').includes('..') || bound !== undefined)
      throw new Error(
        `${path}: a file of the root filesystem is an absolute path outside the host's bound folders (${binds.map((bind) => bind.target).join(', ')})`,
      );
    mkdirSync(join(rootfs, dirname(path)), { recursive: true });
    writeFileSync(join(rootfs, path), file.content, { mode: file.mode ?? 0o644 });
  }
  return {
    definition: {
      rootfs,
      binds,
      entrypoint: ['/opt/node/bin/node', '/opt/cairn/cairn-worker.js'],
      user: options.user ?? '1000:1000',
      ...(options.capabilities ? { capabilities: options.capabilities } : {}),
      environment: { PATH: '/opt/node/bin:/usr/local/bin:/usr/bin:/bin', HOME: '/tmp', ...(options.environment ?? {}) },
    },
    remove: () => rmSync(rootfs, { recursive: true, force: true }),
  };
}
