import type { EnvironmentSpec, ManifestNetworkAllowList } from '@cairn/core';
import type { SnapshotTree } from '../snapshot/snapshot-tree.ts';
import type { AttemptFolders } from './attempt-mounts.ts';

/**
 * A host's way of giving an attempt its workspace as a writable layer over a snapshot it keeps
 * extracted (the local executor: an overlay over its snapshot cache), so that preparing an attempt
 * costs the same at 100 files as at 40,000 and its patch is read from what the layer holds.
 *
 * The worker calls `mount` once the attempt's folder and its empty `workspace/` exist; when it
 * answers undefined (the host cannot layer here), the worker extracts the snapshot into the
 * workspace itself. The layer replaces the attempt's mounts for the workspace: a host with both
 * bounds the layer's writes itself, and `AttemptMounts.limitReached` keeps being asked.
 */
export interface WorkspaceLayers {
  /**
   * Mounts `request.folders.workspace` as a writable layer over the snapshot, built from
   * `request.fetch()` when the host has no sound copy yet. Throws a CairnError for a snapshot that
   * cannot be used (CAIRN_PAYLOAD_INVALID, CAIRN_DIGEST_MISMATCH) or a host that ran out of room
   * (CAIRN_ATTEMPT_HOST_DISK_FULL, which the worker waits out); undefined when it cannot layer.
   */
  mount(request: WorkspaceLayerRequest): Promise<WorkspaceLayer | undefined>;
}

export interface WorkspaceLayerRequest {
  /** The snapshot's digest (`sha256:…`), the manifest's `workspace`. */
  readonly digest: string;
  /** Names the snapshot in errors. */
  readonly what: string;
  /** The snapshot's bytes, checked against the digest: called only when the host must build the tree. */
  readonly fetch: () => Promise<Uint8Array>;
  readonly folders: AttemptFolders;
  /**
   * The attempt's warm environment (ADR 0056), laid between the snapshot and the attempt's own
   * layer; its setup runs with the item's network and the secrets its allow-list brokers. A host
   * that cannot lay one throws CAIRN_EXECUTOR_START_FAILED rather than run the item without it.
   */
  readonly environment?: WorkspaceEnvironmentRequest;
}

/** What an attempt's environment is laid from. */
export interface WorkspaceEnvironmentRequest {
  readonly spec: EnvironmentSpec;
  readonly network: boolean | ManifestNetworkAllowList;
  readonly secrets: Readonly<Record<string, string>>;
}

/** The environment under a layer: what the attempt's result says of it. */
export interface WorkspaceEnvironment {
  /** The environment's digest (its key: key files' contents, argv, base). */
  readonly digest: string;
  /** The setup's log, stored as the attempt's blob under its digest. */
  readonly log: () => Promise<Uint8Array>;
  /**
   * The egress record (NDJSON, as an attempt's) of the setup's own proxy, when it ran behind the
   * item's allow-list: stored as the attempt's blob, so its evidence shows what the setup reached.
   */
  readonly egress?: () => Promise<Uint8Array>;
  /** Whether this attempt's hold ran the setup (a miss) or found the layer built (a hit). */
  readonly built: boolean;
  readonly setupMs: number;
}

/** A mounted layer. */
export interface WorkspaceLayer {
  /** The tree under the layer: its baseline commit, and the git directory holding it. */
  readonly snapshot: SnapshotTree;
  /**
   * Workspace-relative paths (bytes: a name need not be UTF-8) that may differ from the snapshot:
   * every file, symlink and deletion the layer holds, and folders that are new or hide the
   * snapshot's (their whole content). A superset of the change, never a subset; the workspace's
   * own `.git` is left out.
   */
  changedPaths(): Promise<Buffer[]>;
  /** Unmounts the layer and lets go of the snapshot; never throws for what is already gone. */
  unmount(): Promise<void>;
  /** The environment laid under it, when the request named one. */
  readonly environment?: WorkspaceEnvironment;
}
