import { isRefusalOfDelivery } from './triggered-run.ts';

/** GitHub lets a delivery be redelivered for 3 days; ids are kept a week. */
export const seenDeliveryKeptMs = 7 * 24 * 3_600_000;
/** At most this many ids are kept (the oldest go first), whatever arrives. */
export const seenDeliveryKeptIds = 100_000;

/**
 * The deliveries already handled — GitHub's (X-GitHub-Delivery) and Standard Webhooks' (`webhook-id`,
 * kept as `webhooks/NAME:ID`) — so that a replay (a sender's redelivery, or an attacker's copy of a
 * signed request) runs nothing twice, across restarts. Ids expire after a week
 * (`seenDeliveryKeptMs`) and are bounded in number (`seenDeliveryKeptIds`).
 *
 * Two kinds: `SqliteSeenDeliveries` (`triggers.db` of the data directory, one server) and
 * `PostgresSeenDeliveries` (`server_trigger_deliveries` in the engine's database, shared by the
 * replicas, so a redelivery sent to another replica behind the load balancer is a replay there too).
 */
export abstract class SeenDeliveries {
  /**
   * Records `deliveryId` as handled: true the first time, false when it was already (a replay).
   * Atomic for every store over the same backend: of two copies arriving together, at one server
   * or at two replicas, one claims it. Ids past their week, or beyond the newest 100,000, are
   * forgotten first.
   */
  abstract claim(deliveryId: string, now?: number): Promise<boolean>;

  /** Forgets a claim whose handling failed on the server's side, so the sender's redelivery is handled. */
  abstract release(deliveryId: string): Promise<void>;

  abstract close(): void;

  /**
   * Handles `deliveryId` once: `handle`'s result the first time, undefined for a replay. A refusal
   * for what the delivery asks (`isRefusalOfDelivery`) keeps the claim, since a redelivery would be
   * refused again; a failure on this side (a forge unreachable, a server secret unset) releases it,
   * so the sender's redelivery is handled afresh.
   */
  async handleOnce<T>(deliveryId: string, handle: () => Promise<T>): Promise<T | undefined> {
    if (!(await this.claim(deliveryId))) return undefined;
    try {
      return await handle();
    } catch (error) {
      if (!isRefusalOfDelivery(error)) await this.release(deliveryId);
      throw error;
    }
  }
}
