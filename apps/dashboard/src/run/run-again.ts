import type { RunSpecV1 } from '@cairn/core';

/**
 * The spec that runs a run again on the same work: its spec as submitted, on the very workspace
 * snapshot it ran on — a repository's is pinned to the snapshot the server fetched then
 * (`fetched`), not fetched anew from a ref that may have moved — and without its idempotency key,
 * which would answer with the same run instead of a new one.
 */
export function runAgainSpec(spec: RunSpecV1, fetched: { readonly snapshot: string } | undefined): RunSpecV1 {
  const { idempotencyKey: _key, workspace, ...rest } = spec;
  const snapshot = fetched?.snapshot ?? workspace?.snapshot;
  return { ...rest, ...(snapshot === undefined ? {} : { workspace: { snapshot } }) } as RunSpecV1;
}
