import { statfsSync } from 'node:fs';
import { mkdir, open, rm, rmdir, statfs } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { LimitHit } from '@cairn/core';
import { CairnError, isCairnError } from '@cairn/protocol';
import type { AttemptFolders, AttemptMounts } from '@cairn/worker';
import { runCommand } from '../fork-server/run-command.ts';
import { sizeText } from './size-text.ts';
import { RefusalPlacesWatch } from './refusal-places.ts';
import { SpaceRefusals } from './space-refusals.ts';
import { TraceInstance } from './trace-instance.ts';
import { undoEach } from './undo-each.ts';
import { commandError, unmountPath } from './unmount-path.ts';
import { VolumeTemplates } from './volume-templates.ts';
import { writeFailureCounter } from './write-failure-counter.ts';

/** How much an attempt may write, in bytes: into its workspace, and into its sandbox's /tmp. */
export interface AttemptVolumeLimits {
  readonly workspaceBytes: number;
  readonly tmpBytes: number;
}

/**
 * An attempt mounted here: where its workspace file system is mounted (the workspace, or the
 * folder its layer is kept in), its /tmp, and the workspace file system's count of failed writes
 * (see `writeFailureCounter`).
 */
interface MountedAttempt {
  readonly mountPoint: string;
  readonly tmp: string;
  readonly failures: (() => Promise<number>) | undefined;
  readonly failuresAtMount: number;
  /** The writes the kernel refused its sandboxes for lack of room; undefined where they cannot be counted. */
  readonly refusals: SpaceRefusals | undefined;
  /** Which volume refused them, as far as it was seen (see RefusalPlacesWatch). */
  readonly places: RefusalPlacesWatch | undefined;
  /** The volumes a look of `limitReached` found full: the ones a refusal is put down to. */
  readonly seenFull: Set<'workspace' | 'tmp'>;
}

/** The workspace's file system, a sparse image in the attempt's folder (root's only; removed with it). */
const imageName = 'workspace.img';
/** Where the sandbox's /tmp is mounted in the attempt's folder, for the launcher to bind. */
const tmpName = 'tmp';

/**
 * Free space the disk holding the attempt's folder must have for an attempt to begin (the same
 * "nearly full" as the worker's): below it the attempt waits for room instead of starting.
 */
const hostRoomBytes = 1024 * 1024;

/**
 * mkfs options for a scratch file system that is never grown, checked or repaired: no journal,
 * nothing kept for root, and none of the reserved group-descriptor blocks of online resizing
 * (`resize_inode`) or backup superblocks (`sparse_super2`, none). What mkfs writes is all the image
 * takes on the host's disk until the item writes: about 44 KiB at 4 GiB, where the defaults write
 * 2.1 MiB, almost all of it for resizing. That matters on a full disk: an attempt that ends hands
 * its image's blocks back before its result is written, and 2 MiB per attempt was enough for
 * results and the engine's commits to go through, so nobody saw the disk was full.
 */
const mkfsOptions = ['-q', '-F', '-O', '^has_journal,^resize_inode,sparse_super2', '-E', 'num_backup_sb=0', '-m', '0'] as const;

const commandEnvironment = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

/**
 * Disk limits an attempt's writes cannot pass, enforced by the kernel (ENOSPC) rather than by
 * watching: the workspace is an ext4 file system of its own, `workspaceBytes` large, in a sparse
 * image file in the attempt's folder, loop-mounted on the workspace folder before the snapshot is
 * extracted; the sandbox's /tmp is a tmpfs of `tmpBytes` in the same folder (`tmp/`), which the
 * launcher binds at /tmp in place of bubblewrap's unbounded one.
 *
 * Why so: the host's work root is one ext4 file system without project quotas (which cannot be
 * turned on while it is mounted), and bubblewrap 0.8 cannot size a tmpfs and report on it. Watching
 * usage (`du`) and killing would let a fast writer go gigabytes past the limit between two looks and
 * costs a walk of the tree each time; a file system of a fixed size is exact, costs about 30 ms per
 * attempt (mkfs, mount, unmount: measured here) and nothing per write, and its image holds only
 * what was written (sparse). Given a templates folder, the image is written from a template mkfs
 * made once per size (VolumeTemplates): no mkfs an attempt. Its own overhead (inode tables, about 2-10 %) comes out of the limit.
 * The git directory stays on the host's file system: a full workspace never stops the capture.
 *
 * The disk under the image (the work root's) can fill before the workspace does: a sparse image
 * promises room it has not taken. Then the kernel does not answer ENOSPC to the item: its writes
 * succeed into the page cache, their write-back to the image fails, and ext4 drops them (no hang,
 * no read-only remount: it logs and counts them). So an attempt does not begin on a disk with less
 * than 1 MiB free (`mount` throws CAIRN_ATTEMPT_HOST_DISK_FULL, which the worker waits out: nothing
 * ran yet), and once it runs, `limitReached` reports the first write the kernel dropped as
 * CAIRN_ATTEMPT_HOST_DISK_FULL: what the item wrote is gone, which waiting cannot bring back, so
 * the attempt is stopped and fails naming the host's disk. Writes still in the page cache are
 * intact (dirty pages are never dropped): an attempt that ends before any write-back failed is
 * captured whole.
 *
 * /tmp stays in memory as it was (a tmpfs), so what an item keeps there also counts against its
 * memory cgroup; it now lives as long as the attempt (one /tmp for all its sandboxes), not one
 * sandbox.
 *
 * Clean-up: `unmount` (the worker calls it before removing the folder; the loop device goes with
 * the mount), and for an attempt whose process died, the executor's sweep of dead owners' folders,
 * which unmounts what is under them before removing them. A kept attempt (`keepWorkDirectory`)
 * stays mounted, to be looked at: `umount <folder>/workspace <folder>/tmp` before removing it (over
 * the snapshot cache, `<folder>/workspace <folder>/snapshot <folder>/layer <folder>/tmp`).
 */
export class AttemptVolumes implements AttemptMounts {
  readonly #limits: AttemptVolumeLimits;
  /** The attempts mounted here, by attempt folder. Only these are looked at and bound. */
  readonly #mounted = new Map<string, MountedAttempt>();
  readonly #templates: VolumeTemplates | undefined;

  /**
   * With `templatesFolder` (a folder of root's, kept between attempts), each workspace image is
   * written from a template made once per size (VolumeTemplates) instead of by mkfs each time.
   */
  constructor(limits: AttemptVolumeLimits, templatesFolder?: string) {
    this.#limits = limits;
    this.#templates =
      templatesFolder === undefined
        ? undefined
        : new VolumeTemplates({
            folder: templatesFolder,
            make: (image) => this.#run('workspace', ['mkfs.ext4', ...mkfsOptions, image]),
            makeKey: ['mkfs.ext4', ...mkfsOptions].join(' '),
          });
    // Counters of attempts whose process was killed before it removed them.
    void TraceInstance.sweep().catch(() => undefined);
  }

  /**
   * Mounts the attempt's workspace file system at `mountPoint` (an existing empty folder in the
   * attempt's folder): the workspace by default, or the folder an overlay keeps its upper layer in.
   */
  async mount(folders: AttemptFolders, mountPoint: string = folders.workspace): Promise<void> {
    const { directory } = folders;
    const image = join(directory, imageName);
    const tmp = join(directory, tmpName);
    await this.#needRoom(directory);
    let refusals: SpaceRefusals | undefined;
    let places: RefusalPlacesWatch | undefined;
    try {
      await this.#makeImage(image);
      await this.#run('workspace', ['mount', '-t', 'ext4', '-o', 'loop,nodev,nosuid,noatime', image, mountPoint]);
      // Not part of what the item was given: it would show up in its workspace.
      await rmdir(join(mountPoint, 'lost+found'));
      await mkdir(tmp, { mode: 0o700 });
      await this.#run('tmp', ['mount', '-t', 'tmpfs', '-o', `size=${this.#limits.tmpBytes},mode=1777,nodev,nosuid`, 'cairn-tmp', tmp]);
      const failures = await writeFailureCounter(mountPoint);
      const failuresAtMount = (await failures?.()) ?? 0;
      refusals = await SpaceRefusals.open(basename(directory));
      places = refusals && (await RefusalPlacesWatch.open(basename(directory), mountPoint));
      this.#mounted.set(directory, { mountPoint, tmp, failures, failuresAtMount, refusals, places, seenFull: new Set() });
    } catch (error) {
      await refusals?.close();
      await places?.close();
      await this.#unmountAll([mountPoint, tmp]).catch(() => undefined);
      await rm(image, { force: true });
      throw error;
    }
  }

  /** A new file system of `workspaceBytes` in `image`: from the size's template where there is one, else by mkfs. */
  async #makeImage(image: string): Promise<void> {
    if (this.#templates !== undefined) {
      try {
        await this.#templates.write(image, this.#limits.workspaceBytes);
      } catch (error) {
        if (isCairnError(error)) throw error;
        // The write's own words stay in the message, as a command's do (see #run): a full disk is waited out.
        throw new CairnError(
          'CAIRN_EXECUTOR_START_FAILED',
          `Cannot give the attempt its workspace of ${sizeText(this.#limits.workspaceBytes)} (local.executor.limits.workspaceBytes): writing its file system image ${image} from the host's template failed: ${(error as Error).message}. The local executor writes a file system of that size for each attempt into its folder, under the work root (executor.workRoot in the server config).`,
          { path: 'local.executor.limits.workspaceBytes', cause: error },
        );
      }
      return;
    }
    const file = await open(image, 'wx', 0o600);
    try {
      await file.truncate(this.#limits.workspaceBytes);
    } finally {
      await file.close();
    }
    // No journal (a scratch file system needs no crash consistency), no blocks kept for root.
    await this.#run('workspace', ['mkfs.ext4', ...mkfsOptions, image]);
  }

  async unmount(folders: AttemptFolders): Promise<void> {
    const mounted = this.#mounted.get(folders.directory);
    const mountPoint = mounted?.mountPoint ?? folders.workspace;
    this.#mounted.delete(folders.directory);
    await mounted?.refusals?.close();
    await mounted?.places?.close();
    await this.#unmountAll([mountPoint, join(folders.directory, tmpName)]);
  }

  /** Each path, though one fails (see undoEach): the workspace's file system failing leaves no /tmp behind. */
  async #unmountAll(paths: readonly string[]): Promise<void> {
    await undoEach(paths.map((path) => () => unmountPath(path)));
  }

  async limitReached(folders: AttemptFolders): Promise<CairnError | undefined> {
    const mounted = this.#mounted.get(folders.directory);
    if (mounted === undefined) return undefined;
    // First: once writes were dropped, the workspace is not what the item wrote, full or not.
    const failures = ((await mounted.failures?.().catch(() => undefined)) ?? mounted.failuresAtMount) - mounted.failuresAtMount;
    if (failures > 0) return this.#writesLost(folders.directory, failures);
    const workspace = fullness(mounted.mountPoint);
    if (workspace.full) {
      mounted.seenFull.add('workspace');
      return this.#exceeded('workspace', workspace.usedBytes);
    }
    const temporary = fullness(mounted.tmp, 0);
    if (temporary.full) {
      mounted.seenFull.add('tmp');
      return this.#exceeded('tmp', temporary.usedBytes);
    }
    return undefined;
  }

  /**
   * The limits that refused a write during the attempt (see SpaceRefusals: every refusal is counted,
   * however briefly the volume was full), then stops counting. Each refusal is put down to the
   * volume RefusalPlacesWatch saw refuse it; one it did not see, to the volume a look found full
   * (now or while the item ran) when only one was, else to both (`workspace-or-tmp`).
   */
  async limitsHit(folders: AttemptFolders): Promise<readonly LimitHit[]> {
    const mounted = this.#mounted.get(folders.directory);
    if (mounted?.refusals === undefined) return [];
    const refused = await mounted.refusals.count().catch(() => 0);
    const placed = (await mounted.places?.places().catch(() => undefined)) ?? { workspace: 0, tmp: 0 };
    await mounted.refusals.close();
    await mounted.places?.close();
    if (refused === 0) return [];
    const counts = { workspace: placed.workspace, tmp: placed.tmp, 'workspace-or-tmp': 0 };
    const unplaced = Math.max(0, refused - placed.workspace - placed.tmp);
    if (unplaced > 0) {
      const full = [
        ...(mounted.seenFull.has('workspace') || (await fullOrOutOfInodes(mounted.mountPoint)) ? (['workspace'] as const) : []),
        ...(mounted.seenFull.has('tmp') || (await fullOrOutOfInodes(mounted.tmp, 0)) ? (['tmp'] as const) : []),
      ];
      counts[full.length === 1 ? full[0]! : 'workspace-or-tmp'] += unplaced;
    }
    return (['workspace', 'tmp', 'workspace-or-tmp'] as const).filter((limit) => counts[limit] > 0).map((limit) => this.#hit(limit, counts[limit]));
  }

  #hit(limit: LimitHit['limit'], refusedWrites: number): LimitHit {
    const { workspaceBytes, tmpBytes } = this.#limits;
    const writes = `${refusedWrites} write${refusedWrites === 1 ? ' was' : 's were'} refused for lack of room`;
    if (limit === 'workspace-or-tmp') {
      return {
        limit,
        refusedWrites,
        limitBytes: Math.min(workspaceBytes, tmpBytes),
        message: `The attempt reached a disk limit: ${writes} (No space left on device) in its workspace (limit ${sizeText(workspaceBytes)}) or its /tmp (limit ${sizeText(tmpBytes)}); which one is not known (neither was full when the attempt ended). If the item needed that room, raise the local executor's limits.workspaceBytes or limits.tmpBytes (executor.limits in the server config).`,
      };
    }
    const setting = limit === 'workspace' ? 'workspaceBytes' : 'tmpBytes';
    return {
      limit,
      refusedWrites,
      limitBytes: this.#limits[setting],
      message: `The attempt reached its ${limit === 'workspace' ? 'workspace' : '/tmp'} disk limit of ${sizeText(this.#limits[setting])}: ${writes} (No space left on device). If the item needed that room, raise the local executor's limits.${setting} (executor.limits.${setting} in the server config).`,
    };
  }

  /** The files the sandbox's reaper appends its pid to, to have its refusals counted and placed (see SpaceRefusals). */
  refusalsPidFilesOf(workspace: string): readonly string[] {
    const mounted = this.#mounted.get(dirname(workspace));
    return [mounted?.refusals?.pidFile, mounted?.places?.pidFile].filter((file) => file !== undefined);
  }

  /** The host folder to bind at the sandbox's /tmp for `workspace`, when it is an attempt mounted here. */
  tmpOf(workspace: string): string | undefined {
    return this.#mounted.get(dirname(workspace))?.tmp;
  }

  /** Throws CAIRN_ATTEMPT_HOST_DISK_FULL when the disk holding `directory` has less than `hostRoomBytes` free. */
  async #needRoom(directory: string): Promise<void> {
    const freeBytes = await freeBytesUnder(directory);
    if (freeBytes === undefined || freeBytes >= hostRoomBytes) return;
    throw new CairnError(
      'CAIRN_ATTEMPT_HOST_DISK_FULL',
      `The disk holding the attempt's folder (${directory}) is full: ${sizeText(freeBytes)} free, less than the ${sizeText(hostRoomBytes)} an attempt needs to begin, so its workspace was not made and nothing was run. Free space on that disk (the local executor's workRoot, executor.workRoot in the server config) or move workRoot to a larger one; the worker goes on once there is room.`,
      { path: 'local.executor.workRoot', details: { directory, freeBytes } },
    );
  }

  async #writesLost(directory: string, failures: number): Promise<CairnError> {
    const freeBytes = await freeBytesUnder(directory);
    const free = freeBytes === undefined ? '' : ` (${sizeText(freeBytes)} free now)`;
    return new CairnError(
      'CAIRN_ATTEMPT_HOST_DISK_FULL',
      `The disk holding the attempt's workspace image (${join(directory, imageName)}) ran out of space${free}: the image is sparse and grows as the item writes, the kernel could not write what the item wrote into it (${failures} failed write${failures === 1 ? '' : 's'}) and dropped it, so the workspace is no longer what the item made; the attempt was stopped. Free space on that disk (the local executor's workRoot, executor.workRoot in the server config) or move workRoot to a larger one, then run the item again.`,
      { path: 'local.executor.workRoot', details: { directory, failedWrites: failures, ...(freeBytes === undefined ? {} : { freeBytes }) } },
    );
  }

  #exceeded(which: 'workspace' | 'tmp', usedBytes: number): CairnError {
    const setting = which === 'workspace' ? 'workspaceBytes' : 'tmpBytes';
    const limitBytes = this.#limits[setting];
    const what = which === 'workspace' ? 'The workspace' : '/tmp';
    const less =
      which === 'workspace'
        ? 'make the item write less into its workspace'
        : 'make the item write less to /tmp (held in memory, it also counts against limits.memoryBytes)';
    return new CairnError(
      'CAIRN_ATTEMPT_DISK_EXCEEDED',
      `${what} is full: it reached its disk limit of ${sizeText(limitBytes)} (${limitBytes} bytes; ${sizeText(usedBytes)} in use), and writes past it failed. Raise the local executor's limits.${setting} (executor.limits.${setting} in the server config), or ${less}.`,
      { path: `local.executor.limits.${setting}`, details: { limit: which, limitBytes, usedBytes } },
    );
  }

  async #run(which: 'workspace' | 'tmp', argv: readonly string[]): Promise<void> {
    try {
      await runCommand(argv[0]!, argv.slice(1), { env: commandEnvironment });
    } catch (error) {
      const setting = which === 'workspace' ? 'workspaceBytes' : 'tmpBytes';
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT' ? ` (${argv[0]} is not installed: apt-get install -y e2fsprogs mount)` : '';
      // The command's own words stay in the message: "No space left on device" from a full host disk
      // is then waited out by the worker like any other full disk.
      throw new CairnError(
        'CAIRN_EXECUTOR_START_FAILED',
        `Cannot give the attempt its ${which === 'workspace' ? 'workspace' : '/tmp'} of ${sizeText(this.#limits[setting])} (local.executor.limits.${setting}): \`${argv.join(' ')}\` failed: ${commandError(error)}${missing}. The local executor mounts a file system of that size for each attempt; it must run as root, with loop devices (modprobe loop).`,
        { path: `local.executor.limits.${setting}`, cause: error },
      );
    }
  }
}

/**
 * Whether the file system at `path` is full: less than `slackBytes` left to its users. ext4 answers
 * ENOSPC with a few hundred KiB still counted free (reservations for its own metadata: 450-700 KiB
 * measured on 64 MiB and 600 MiB images), hence 1 MiB or 1/512 of its size; a tmpfs is exact.
 */
function fullness(path: string, slackBytes?: number): { readonly full: boolean; readonly usedBytes: number } {
  // Synchronous: `path` is a volume this process mounted (an image on a loop device, a tmpfs), whose
  // statfs reads counters in memory; the promise form costs a thread-pool round trip, four times a
  // second per attempt.
  const stats = statfsSync(path);
  const size = stats.blocks * stats.bsize;
  const slack = slackBytes ?? Math.max(1_048_576, size / 512);
  return { full: stats.bavail * stats.bsize <= slack, usedBytes: (stats.blocks - stats.bfree) * stats.bsize };
}

/** Whether the file system at `path` is full (see fullness) or has no inode left; false when it cannot be read. */
async function fullOrOutOfInodes(path: string, slackBytes?: number): Promise<boolean> {
  try {
    const stats = statfsSync(path);
    return (stats.files > 0 && stats.ffree === 0) || fullness(path, slackBytes).full;
  } catch {
    return false;
  }
}

/** What the disk holding `path` has free for an unprivileged writer; undefined when it cannot be read. */
async function freeBytesUnder(path: string): Promise<number | undefined> {
  try {
    const stats = await statfs(path);
    return stats.bavail * stats.bsize;
  } catch {
    return undefined;
  }
}
