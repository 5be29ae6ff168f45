import type { LimitHit } from '@cairn/core';
import type { CairnError } from '@cairn/protocol';

/** An attempt's folders as the worker lays them out: `directory` holds `workspace/` and `git/`. */
export interface AttemptFolders {
  readonly directory: string;
  readonly workspace: string;
}

/**
 * File systems of a fixed size that a host mounts in each attempt's folder, so that what an attempt
 * writes is bounded by the kernel (ENOSPC) rather than by the host's free space: the local executor
 * makes the workspace a file system of its own and gives the sandbox's /tmp one. The git directory
 * stays outside them, so the worker can always capture what the attempt left.
 *
 * The worker calls `mount` once the attempt's workspace folder exists and is empty, before the
 * snapshot is extracted into it (so the workspace's identity, which the capture checks, is the
 * mounted one); `unmount` before it removes the attempt's folder (never for a kept one);
 * `limitReached` every 250 ms while the runtime runs (an answer stops the runtime, as its timeout
 * does), once after it has ended, and when preparing the workspace failed.
 */
export interface AttemptMounts {
  /**
   * Mounts the attempt's file systems; throws a CairnError saying why it cannot:
   * CAIRN_ATTEMPT_HOST_DISK_FULL when the disk that would hold them is full (the worker waits for
   * room), CAIRN_EXECUTOR_START_FAILED otherwise.
   */
  mount(folders: AttemptFolders): Promise<void>;
  /** Unmounts what `mount` mounted; never throws for what is already gone. */
  unmount(folders: AttemptFolders): Promise<void>;
  /**
   * The failure to report when one of the attempt's file systems is full (CAIRN_ATTEMPT_DISK_EXCEEDED,
   * naming the limit, which one and the setting to raise), or when what was written into them was
   * lost because the disk under them is full (CAIRN_ATTEMPT_HOST_DISK_FULL, naming that disk: before
   * the runtime ran, the worker waits it out and prepares the attempt again; once it ran, the attempt
   * fails); undefined while neither is.
   */
  limitReached(folders: AttemptFolders): Promise<CairnError | undefined>;
  /**
   * The limits that refused a write at any moment of the attempt, including a moment no look of
   * `limitReached` fell on (a volume filled and freed between two looks): what the result record
   * says in `limitsHit` whatever the outcome. Asked once, when the attempt ends, before `unmount`;
   * optional (a host that cannot tell says nothing), never throws for what it cannot read.
   */
  limitsHit?(folders: AttemptFolders): Promise<readonly LimitHit[]>;
}
