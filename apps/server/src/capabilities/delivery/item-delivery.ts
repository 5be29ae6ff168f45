import type { Digest, StorageProviderV1 } from '@cairn/core';
import type { EngineService } from '@cairn/engine';
import { blobKey } from '@cairn/protocol';
import { z } from 'zod';

/**
 * What a deliver item delivered: its attempt's `output` (so a later item can read it with
 * `needs: { select: output }`), and the HTTP `Item.delivery` once it succeeded.
 */
export const itemDeliverySchema = z
  .strictObject({
    forge: z.string().meta({ description: 'The forge it delivered to (a name of the server config’s forges:)' }),
    from: z.string().meta({ description: 'The item whose patch it delivered' }),
    branch: z.string().meta({ description: 'The branch it pushed ({runId} filled in)' }),
    base: z.string().meta({ description: 'The branch the commit was built on' }),
    commit: z.string().meta({ description: 'The commit the branch points at: the patch on the base commit, with the Cairn-Run and Cairn-Evidence trailers' }),
    outcome: z
      .enum(['pushed', 'unchanged'])
      .meta({ description: 'pushed: this delivery moved the branch; unchanged: the branch already held exactly this commit' }),
    changeRequest: z
      .strictObject({ id: z.string(), url: z.string() })
      .optional()
      .meta({ description: 'The change request (pull request) it opened or updated, on a forge that has them' }),
    provenance: z
      .strictObject({
        digest: z.string().meta({ description: 'The stored Sigstore bundle (GET /v1/blobs/{digest}); the commit’s Cairn-Evidence trailer names it' }),
      })
      .meta({ description: 'The signed provenance of the delivered patch (ADR 0036)' }),
    protectedPaths: z.array(z.string()).optional().meta({
      description:
        'The paths of the patch the forge protects (its CI configuration, forges.NAME.protectedPaths), named in the change request too; absent when it touches none',
    }),
    tookOverFrom: z
      .string()
      .optional()
      .meta({ description: 'The run that had delivered the branch, when this run took it over (runtime.takeOver); absent otherwise' }),
  })
  .meta({ id: 'ItemDelivery', description: 'What a deliver item delivered: present once it succeeded' });

export type ItemDelivery = z.output<typeof itemDeliverySchema>;

/** The run's items, each succeeded deliver item with its `delivery`. */
export async function withDeliveries<Item extends { readonly itemId: string; readonly state: string }>(
  service: Pick<EngineService, 'spec' | 'graphItems' | 'artifacts'>,
  storage: StorageProviderV1,
  runId: string,
  items: readonly Item[],
): Promise<(Item | (Item & { readonly delivery: ItemDelivery }))[]> {
  const deliveries = await runDeliveries(
    service,
    storage,
    runId,
    items.filter((item) => item.state === 'succeeded').map((item) => item.itemId),
  );
  return items.map((item) => {
    const delivery = deliveries.get(item.itemId);
    return delivery === undefined ? item : { ...item, delivery };
  });
}

/**
 * The deliveries of a run's succeeded deliver items, by item id, read from their outputs. Deliver
 * items are found in the run's spec, and, for items a planner added (not in it), by their specs as
 * they run (`graphItems`): one read of the spec, not of every item's, on a listing clients poll.
 */
export async function runDeliveries(
  service: Pick<EngineService, 'spec' | 'graphItems' | 'artifacts'>,
  storage: StorageProviderV1,
  runId: string,
  succeeded: readonly string[],
): Promise<Map<string, ItemDelivery>> {
  const deliveries = new Map<string, ItemDelivery>();
  if (succeeded.length === 0) return deliveries;
  const written = new Map(((await service.spec(runId))?.items ?? []).map((item) => [item.id, item.runtime.kind]));
  const added = succeeded.filter((itemId) => !written.has(itemId));
  const addedKinds =
    added.length === 0 ? [] : (await service.graphItems(runId, { itemIds: added })).map((item) => [item.itemId, item.spec.runtime.kind] as const);
  const kinds = new Map([...written, ...addedKinds]);
  await Promise.all(
    succeeded
      .filter((itemId) => kinds.get(itemId) === 'deliver')
      .map(async (itemId) => {
        const output = (await service.artifacts(runId, itemId))?.['output'];
        const bytes = output === undefined ? null : await storage.get(blobKey(output as Digest));
        if (bytes === null) return;
        const parsed = itemDeliverySchema.safeParse(JSON.parse(Buffer.from(bytes).toString('utf8')));
        if (parsed.success) deliveries.set(itemId, parsed.data);
      }),
  );
  return deliveries;
}
