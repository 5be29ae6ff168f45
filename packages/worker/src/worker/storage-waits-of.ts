import type { StorageWait } from '@cairn/core';
import type { RetryWait } from '@cairn/protocol';

/** At most this many waits are kept in a result record: the longest. */
const keptWaits = 10;

/**
 * The result record's `storageWaits`: the storage operations of the attempt that waited for an
 * outage to end (retried within the storage's outage budget), longest first; none when none did.
 * A storage fault is the platform's, not the item's: the attempt went on, and its history says so.
 */
export function storageWaitsOf(waits: readonly RetryWait[]): { storageWaits?: readonly StorageWait[] } {
  const storage = waits.filter((wait) => wait.waitedFor === 'storage');
  if (storage.length === 0) return {};
  const longest = [...storage].sort((one, other) => other.waitedMs - one.waitedMs).slice(0, keptWaits);
  return { storageWaits: longest.map(({ waitedMs, retries, reason }) => ({ waitedMs, retries, reason })) };
}
