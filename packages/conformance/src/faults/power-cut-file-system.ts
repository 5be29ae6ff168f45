import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';

/**
 * A deliberately wrong power cut, to prove a test notices what a cut loses: `keeps-unsynced`
 * makes every write and name change durable at once (a cut loses nothing), `ignores-fsync` makes
 * a file's fsync do nothing (a cut loses every write since the mount; a folder's fsync still works).
 */
export type PowerCutFileSystemBreakage = 'keeps-unsynced' | 'ignores-fsync';

/** A file system whose power can be cut: what was not made durable is lost. */
export interface PowerCutFileSystem {
  /** Where it is mounted (known at once; mounted before the file's tests run). */
  readonly path: string;
  /**
   * The folder that holds its durable state (write into it only while unmounted): what a cut
   * keeps, as plain files.
   */
  readonly durable: string;
  /**
   * The power cut: the file system stops at once (every process that holds a file or folder of it
   * gets ENOTCONN from then on, and new ones must reopen) and is mounted again at `path`, showing
   * only what was durable. Stop the processes that use it first, or at the same moment: a power
   * cut takes them too.
   */
  cut(): Promise<void>;
  /** Ends the mount; what was not durable is lost, as in a cut. `mount()` mounts it again. */
  unmount(): Promise<void>;
  mount(): Promise<void>;
}

/**
 * A FUSE file system for the tests of the calling file (mounted before them, unmounted after)
 * that holds every write not yet made durable in memory, and loses it on `cut()` (the LazyFS idea;
 * the model, in full, opens `power-cut-file-system.c`):
 * - a file's data (its writes and truncates) is durable once the file is fsynced or fdatasynced,
 *   through any descriptor;
 * - a name change (create, link, rename, unlink, mkdir, rmdir, symlink) is durable once a folder it
 *   touched is fsynced, together with every name change made before it (a journal's order); an
 *   fsync of a file never makes its name durable;
 * - a regular file's mode and owner are durable at once; times are not kept;
 * - nothing is written back on its own (a kernel does within ~30 s): a write never fsynced is lost
 *   however old.
 * SQLite in WAL mode (pread/pwrite, ftruncate, fsync, POSIX locks, the `-shm` file mapped shared)
 * runs on it. It is compiled from its C source on first use (gcc and libfuse3: Debian's
 * `libfuse3-dev` and `fuse3`), into a folder of the temporary directory named by the source's
 * hash. Mounting needs root.
 */
export function usePowerCutFileSystem(options: { readonly broken?: PowerCutFileSystemBreakage } = {}): PowerCutFileSystem {
  const root = mkdtempSync(join(tmpdir(), 'cairn-power-cut-'));
  // Passable by other uids (a sandbox's), as a server's data directory must be.
  chmodSync(root, 0o711);
  const durable = join(root, 'durable');
  const unnamed = join(root, 'unnamed');
  const path = join(root, 'mount');
  for (const folder of [durable, unnamed, path]) mkdirSync(folder);
  let server: { readonly process: ChildProcess; readonly errors: () => string } | undefined;

  const mount = async (): Promise<void> => {
    if (server) throw new Error(`The power-cut file system at ${path} is mounted already.`);
    const child = spawn(compiledServer(), [durable, unnamed, path, ...(options.broken ? [options.broken] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
    let errors = '';
    child.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('mounted\n')) resolve();
      });
      child.once('exit', (code, signal) => reject(new Error(`The power-cut file system at ${path} ended (${code ?? signal}) before it mounted: ${errors}`)));
      child.once('error', reject);
    });
    server = { process: child, errors: () => errors };
  };

  const unmount = async (): Promise<void> => {
    const stopping = server;
    server = undefined;
    let died = false;
    if (stopping) {
      const { process: child } = stopping;
      died = child.exitCode !== null || child.signalCode !== null;
      if (!died) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
    }
    // Lazily: processes that still hold files of the old mount keep getting ENOTCONN.
    try {
      execFileSync('umount', ['-l', path], { stdio: 'pipe' });
    } catch (error) {
      if (!/not mounted/.test((error as { stderr?: Buffer }).stderr?.toString() ?? '')) throw error;
    }
    // A server that died on its own, or could not replay a change, is a bug of the file system's,
    // never a finding about the code under test.
    if (stopping && (died || stopping.errors() !== ''))
      throw new Error(`The power-cut file system at ${path} failed${died ? ' (it had ended on its own)' : ''}: ${stopping.errors()}`);
  };

  beforeAll(async () => {
    await mount();
  });
  afterAll(async () => {
    try {
      if (server) await unmount();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
  return {
    path,
    durable,
    cut: async () => {
      await unmount();
      await mount();
    },
    unmount,
    mount,
  };
}

/** The source, beside this module in `src` (and found from `dist/faults`, where the build puts this module). */
function sourceFile(): string {
  const candidates = ['./power-cut-file-system.c', '../../src/faults/power-cut-file-system.c'].map((relative) =>
    fileURLToPath(new URL(relative, import.meta.url)),
  );
  const found = candidates.find((candidate) => existsSync(candidate));
  if (found === undefined) throw new Error(`The power-cut file system's source is missing: looked at ${candidates.join(', ')}.`);
  return found;
}

let compiled: string | undefined;

/** The server's binary, compiled once per version of its source (concurrent test files each compile to their own name, then rename). */
function compiledServer(): string {
  if (compiled !== undefined) return compiled;
  const source = readFileSync(sourceFile());
  const folder = join(tmpdir(), `cairn-power-cut-file-system-${createHash('sha256').update(source).digest('hex').slice(0, 16)}`);
  const binary = join(folder, 'power-cut-file-system');
  if (!existsSync(binary)) {
    mkdirSync(folder, { recursive: true });
    const building = `${binary}.${process.pid}`;
    try {
      const flags = execFileSync('pkg-config', ['--cflags', '--libs', 'fuse3'], { encoding: 'utf8', stdio: 'pipe' }).trim().split(/\s+/);
      execFileSync('gcc', ['-O2', '-Wall', '-o', building, sourceFile(), ...flags], { stdio: 'pipe' });
    } catch (error) {
      const said = (error as { stderr?: Buffer }).stderr?.toString() ?? String(error);
      throw new Error(
        `The power-cut file system is compiled on first use, with gcc against libfuse3; that failed: ${said.trim()}\nInstall them with \`apt-get install -y gcc pkg-config libfuse3-dev fuse3\`.`,
      );
    }
    renameSync(building, binary);
  }
  compiled = binary;
  return binary;
}
