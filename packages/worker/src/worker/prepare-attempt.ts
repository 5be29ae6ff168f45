import type { DispatchManifest } from '@cairn/core';
import { blobKey, CairnError, isCairnError } from '@cairn/protocol';
import { AttemptWorkspace } from '../git/attempt-workspace.ts';
import type { AttemptMounts } from './attempt-mounts.ts';
import type { BlobStore } from './blob-store.ts';
import { deliverInputs } from './deliver-inputs.ts';
import { preparationOverLimit } from './preparation-over-limit.ts';
import type { WorkspaceLayers } from './workspace-layers.ts';

/**
 * Builds the attempt's workspace: a layer over the host's tree of the snapshot `manifest.workspace`
 * where the host has `layers` (see WorkspaceLayers), the snapshot extracted and committed as a
 * baseline otherwise, then the patches of `manifest.apply` applied in order with `git apply --index` and
 * committed as the new baseline. So the patch this attempt hands back is its own change on top of
 * its inputs, not theirs again: whoever applies it applies the same inputs first (which the
 * engine's `apply` lists do, item after item). Every input, applied or not, is then delivered as a
 * file under `.cairn-inputs/` (see deliverInputs).
 *
 * Throws CAIRN_NOT_FOUND / CAIRN_DIGEST_MISMATCH for a missing or altered blob, and
 * CAIRN_PAYLOAD_INVALID for an unsafe snapshot or an input that is not a patch or does not apply
 * (naming the input, its item and git's message), CAIRN_ATTEMPT_DISK_EXCEEDED when they do not
 * fit in the attempt's `mounts`, and CAIRN_ATTEMPT_HOST_DISK_FULL when the disk under the mounts is
 * full (which the worker waits out). The folder is removed on failure.
 */
export async function prepareAttempt(
  manifest: DispatchManifest,
  blobs: BlobStore,
  root: string,
  host: { readonly mounts?: AttemptMounts | undefined; readonly layers?: WorkspaceLayers | undefined } = {},
  secrets: Readonly<Record<string, string>> = {},
): Promise<AttemptWorkspace> {
  const what = `the workspace snapshot ${manifest.workspace}`;
  const place = { root, label: `${manifest.itemId}-${manifest.attempt}`, ...(host.mounts ? { mounts: host.mounts } : {}) };
  const fetch = () => blobs.fetch(manifest.workspace, what);
  const environment = manifest.environment ? { spec: manifest.environment, network: manifest.limits.network, secrets } : undefined;
  const layered = host.layers
    ? await AttemptWorkspace.overLayer({ ...place, layers: host.layers, digest: manifest.workspace, what, fetch, ...(environment ? { environment } : {}) })
    : undefined;
  // An environment is a layer: without one the item would run without what its setup installs.
  if (!layered && environment) {
    throw new CairnError(
      'CAIRN_EXECUTOR_START_FAILED',
      "This item needs a warm environment (environment.setup), which only an executor that lays workspaces over a snapshot cache provides (the local executor and runners, where `cairn doctor` finds overlays work). Run it there, or put the setup at the start of the item's own command.",
      { path: 'environment' },
    );
  }
  const workspace = layered ?? (await AttemptWorkspace.prepare({ ...place, snapshot: await fetch(), what }));
  try {
    for (const name of manifest.apply) {
      const input = manifest.inputs[name];
      if (input === undefined) {
        throw new CairnError(
          'CAIRN_PAYLOAD_INVALID',
          `The manifest applies input ${JSON.stringify(name)}, which is not among its inputs (${Object.keys(manifest.inputs).join(', ') || 'none'}).`,
          { path: '$.apply' },
        );
      }
      const described = `input ${JSON.stringify(name)} (the ${input.select} of item ${JSON.stringify(input.from)}, ${input.digest})`;
      if (input.select !== 'patch') {
        throw new CairnError(
          'CAIRN_PAYLOAD_INVALID',
          `The manifest applies ${described}, which is not a patch; only inputs that select a patch can be applied.`,
          { path: `$.inputs.${name}.select` },
        );
      }
      const patch = await blobs.fetch(input.digest, described);
      const result = await workspace.applyPatch(patch);
      if (!result.applied) {
        throw new CairnError(
          'CAIRN_PAYLOAD_INVALID',
          `${capitalised(described)} does not apply to the workspace: ${result.message.split('\n').slice(0, 6).join('; ')}. The snapshot or an earlier input changed the same lines differently; order the inputs, or rebuild the upstream item on the current workspace. Nothing was run.`,
          { path: `$.inputs.${name}`, details: { input: name, from: input.from, digest: input.digest, key: blobKey(input.digest) } },
        );
      }
    }
    if (manifest.apply.length > 0) await workspace.commit(`inputs: ${manifest.apply.join(', ')}`);
    await deliverInputs(manifest, blobs, workspace.workspace);
    // Writes the kernel dropped on the way (the disk under the workspace's file system is full): the
    // workspace is not what was prepared. Nothing ran yet, so it is waited out and made again.
    const lost = await workspace.limitReached();
    if (lost && isCairnError(lost, 'CAIRN_ATTEMPT_HOST_DISK_FULL')) throw lost;
    return workspace;
  } catch (error) {
    const reached = await workspace.limitReached().catch(() => undefined);
    await workspace.remove();
    throw reached ? preparationOverLimit(reached) : error;
  }
}

function capitalised(text: string): string {
  return `${text[0]!.toUpperCase()}${text.slice(1)}`;
}
