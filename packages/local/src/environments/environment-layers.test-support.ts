import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EnvironmentSpec, ManifestNetworkAllowList } from '@cairn/core';
import { sha256Digest } from '@cairn/protocol';
import { writeTar, type TarEntry } from '@cairn/protocol/workspace';
import { AttemptWorkspace, workerEgressSettingsSchema, type WorkerEgressSettings, type WorkspaceEnvironment } from '@cairn/worker';
import { AttemptVolumes } from '../sandbox/attempt-volumes.ts';
import { OverlayWorkspaces } from '../sandbox/overlay-workspaces.ts';
import { SandboxUids } from '../sandbox/sandbox-uids.ts';
import { freshUid, testLimits } from '../sandbox/sandbox.test-support.ts';
import { SnapshotCache } from '../snapshots/snapshot-cache.ts';
import { EnvironmentCache } from './environment-cache.ts';
import { EnvironmentLayers } from './environment-layers.ts';

/** A snapshot of `files` (path → content), and its digest. */
export function snapshotOf(files: Readonly<Record<string, string>>): { bytes: Uint8Array; digest: string } {
  const entries: TarEntry[] = Object.entries(files).map(([path, content]) => ({ kind: 'file', path, executable: false, content: Buffer.from(content) }));
  const bytes = writeTar(entries);
  return { bytes, digest: sha256Digest(bytes) };
}

/** An attempt laid by the harness: its workspace, and what its layer said of its environment. */
export interface LaidAttempt {
  readonly workspace: AttemptWorkspace;
  readonly environment: WorkspaceEnvironment | undefined;
}

const harnesses: { root: string; attempts: AttemptWorkspace[] }[] = [];

/**
 * Removes the harnesses' attempts (their mounts) and folders. Each test file registers it
 * (`afterEach(removeHarnesses)`): a hook registered here, at import, would run only for the first
 * file that imports this module in a worker that does not isolate its files.
 */
export async function removeHarnesses(): Promise<void> {
  for (const harness of harnesses.splice(0)) {
    for (const attempt of harness.attempts) await attempt.remove().catch(() => undefined);
    rmSync(harness.root, { recursive: true, force: true });
  }
}

/**
 * The local executor's layers as it composes them (snapshot cache, environment cache beside it,
 * attempt volumes, idmapped overlays, bubblewrap setups), in a work root of the test's; attempts
 * laid with `attempt`, removed after the test.
 */
export function environmentHarness(
  options: {
    readonly egress?: Partial<WorkerEgressSettings>;
    readonly failureMemoryMs?: number;
    readonly maxBytes?: number;
    readonly buildMarginMs?: number;
  } = {},
) {
  const root = mkdtempSync(join(tmpdir(), 'cairn-environments-'));
  // The sandbox's uid passes through the work root to its workspace.
  chmodSync(root, 0o711);
  const workRoot = join(root, 'work');
  mkdirSync(workRoot, { mode: 0o711 });
  const harness = { root, attempts: [] as AttemptWorkspace[] };
  harnesses.push(harness);
  const cacheDirectory = join(root, 'cache');
  const environmentCache = new EnvironmentCache({
    directory: join(cacheDirectory, '.environments'),
    maxBytes: options.maxBytes ?? 1e12,
    maxAgeMs: 1e12,
    ...(options.failureMemoryMs === undefined ? {} : { failureMemoryMs: options.failureMemoryMs }),
    ...(options.buildMarginMs === undefined ? {} : { buildMarginMs: options.buildMarginMs }),
  });
  const first = freshUid();
  for (let index = 1; index < 8; index++) freshUid();
  const volumes = new AttemptVolumes({ workspaceBytes: 256 * 1024 * 1024, tmpBytes: 64 * 1024 * 1024 });
  const environments = new EnvironmentLayers(environmentCache, {
    limits: testLimits,
    tmpBytes: 256 * 1024 * 1024,
    egress: workerEgressSettingsSchema.parse(options.egress ?? {}),
  });
  const layers = new OverlayWorkspaces({
    cache: new SnapshotCache({ directory: cacheDirectory, maxBytes: 1e12, maxAgeMs: 1e12, checkEveryMs: 10_000 }),
    uids: new SandboxUids(first, 8),
    volumes,
    environments,
  });
  let count = 0;
  return {
    layers,
    volumes,
    environmentCache,
    /** Lays an attempt's workspace over `snapshot` with `environment` (none when undefined). */
    async attempt(
      snapshot: { bytes: Uint8Array; digest: string },
      environment: EnvironmentSpec | undefined,
      extra: { readonly network?: boolean | ManifestNetworkAllowList; readonly secrets?: Record<string, string> } = {},
    ): Promise<LaidAttempt> {
      const workspace = await AttemptWorkspace.overLayer({
        root: workRoot,
        label: `item-${++count}`,
        mounts: volumes,
        layers,
        digest: snapshot.digest,
        what: 'the test snapshot',
        fetch: async () => snapshot.bytes,
        ...(environment ? { environment: { spec: environment, network: extra.network ?? false, secrets: extra.secrets ?? {} } } : {}),
      });
      if (!workspace) throw new Error('the harness could not lay a workspace: run as root on Linux 5.12+');
      harness.attempts.push(workspace);
      return { workspace, environment: workspace.environment };
    },
  };
}
