import type { MergeRuntimeSpec } from '@cairn/core';
import { z } from 'zod';
import type { SchemaImplements } from '../schemas/schema-implements.ts';
import { runSpecLimits as limits } from './run-spec-limits.ts';

/**
 * `runtime: { kind: merge, from: [item, ...], onConflict?: fail | rerun }`: the shape only. That each
 * entry names another item of the run, once, in an order that respects their dependencies is an
 * item graph rule (`itemGraphIssues`), reported at `runtime.from[n]`; an entry that is no item id
 * names no item, so it is said there.
 */
export const mergeRuntimeSpecSchema = z.strictObject({
  kind: z.literal('merge'),
  from: z
    .array(z.string().min(1, 'must not be empty: name an item of this run').max(limits.nameLength, `must be at most ${limits.nameLength} characters`))
    .min(1, 'must name at least one item whose patch is merged: from: [item, ...]')
    .max(limits.listEntries, `must hold at most ${limits.listEntries} entries`)
    .meta({
      description:
        'Ids of items of this run whose patches are merged, in this order, with git three-way merge (at least one, each once). An item may be listed after one it depends on, never before. The merge item depends on each.',
    }),
  onConflict: z
    .enum(
      ['fail', 'rerun'],
      'must be fail (the attempt fails with CAIRN_MERGE_CONFLICT, naming the paths and hunks) or rerun (the conflicting producer runs again on what was merged before it)',
    )
    .exactOptional()
    .meta({
      description:
        'fail (the default): a conflicting patch fails the attempt with CAIRN_MERGE_CONFLICT, naming the producer, paths and hunks. rerun: the conflicting producer runs again on top of what was merged before it (as the item <merge>/<producer>, once per producer), and the merge then merges its patch instead.',
    }),
});
true satisfies SchemaImplements<typeof mergeRuntimeSpecSchema, MergeRuntimeSpec>;
