import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { AttemptWorkspace } from '../git/attempt-workspace.ts';
import { layerChanges } from '../patch/layer-changes.ts';
import { buildSnapshotTree, type SnapshotTree } from '../snapshot/snapshot-tree.ts';
import type { WorkspaceLayers } from '../worker/workspace-layers.ts';
import { temporaryDirectory } from './worker.test-support.ts';

/** Whether overlays can be mounted here (root). The layered cases run only then; CI runs as root. */
export const canLayer = process.getuid?.() === 0;

const mounted = new Set<string>();

afterEach(() => {
  for (const point of [...mounted].reverse()) umountAfterTest(point);
  mounted.clear();
});

/**
 * The test's own cleanup: a mount still busy (a process the test started still leaving it, on a
 * loaded machine) is detached lazily, so the folder under it can be removed (removing it while
 * mounted failed with EBUSY). Only here: a layer's `unmount`, which the code under test calls,
 * stays the plain one, so a busy unmount there is not hidden.
 */
function umountAfterTest(point: string): void {
  try {
    execFileSync('umount', [point], { stdio: 'ignore' });
  } catch {
    try {
      execFileSync('umount', ['--lazy', point], { stdio: 'ignore' });
    } catch {
      // Already gone: the attempt was removed.
    }
  }
}

function umount(point: string): void {
  try {
    execFileSync('umount', [point], { stdio: 'ignore' });
  } catch {
    // Already gone: the attempt was removed.
  }
}

/**
 * WorkspaceLayers as the local executor's, less its cache, idmapping and disk limits: a tree built
 * once per snapshot digest in a folder of the test's, and per attempt a plain overlay (root's)
 * with the same options, whose change is read by `layerChanges`. Unmounted after each test.
 */
export function overlayLayers(): WorkspaceLayers & { readonly built: Map<string, SnapshotTree> } {
  const trees = temporaryDirectory('cairn-worker-trees-');
  const built = new Map<string, SnapshotTree>();
  return {
    built,
    async mount(request) {
      let snapshot = built.get(request.digest);
      if (snapshot === undefined) {
        const tree = join(trees, request.digest.replace(':', '-'));
        mkdirSync(tree);
        snapshot = await buildSnapshotTree(await request.fetch(), tree, request.what);
        built.set(request.digest, snapshot);
      }
      const { directory, workspace } = request.folders;
      const upper = join(directory, 'layer', 'upper');
      const work = join(directory, 'layer', 'work');
      mkdirSync(upper, { recursive: true });
      mkdirSync(work);
      const options = `lowerdir=${snapshot.tree},upperdir=${upper},workdir=${work},redirect_dir=off,metacopy=off,index=off,xino=off`;
      execFileSync('mount', ['-t', 'overlay', 'cairn-test', '-o', options, workspace]);
      mounted.add(workspace);
      const tree = snapshot;
      return {
        snapshot: tree,
        changedPaths: () => layerChanges({ upper, lower: tree.tree, merged: workspace }),
        unmount: async () => {
          umount(workspace);
          mounted.delete(workspace);
        },
      };
    },
  };
}

/** An attempt laid over `snapshot` (a tar) with `layers`, in a fresh root folder. */
export async function layeredAttempt(layers: WorkspaceLayers, snapshot: Uint8Array, digest: string): Promise<AttemptWorkspace> {
  const attempt = await AttemptWorkspace.overLayer({ root: temporaryDirectory(), layers, digest, what: `the snapshot ${digest}`, fetch: async () => snapshot });
  if (attempt === undefined) throw new Error('the test layers did not lay the workspace');
  return attempt;
}
