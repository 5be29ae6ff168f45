import type { components } from './openapi.d.ts';
import type { ItemSummary } from './run-summary.ts';

/**
 * What a `deliver` item delivered (`Item.delivery`, present once it succeeded): the forge it
 * pushed to, the item whose patch it delivered, the branch and its base, the commit the branch
 * points at, whether this delivery pushed it or found it there already, the change request it
 * opened or updated (a forge with change requests), and the digest of the patch's signed
 * provenance as stored (`GET /v1/blobs/{digest}` serves those exact bytes).
 */
export type ItemDelivery = components['schemas']['ItemDelivery'];

/** The item's delivery, if it delivered one. */
export function deliveryOf(item: ItemSummary | null | undefined): ItemDelivery | null {
  return item?.delivery ?? null;
}
