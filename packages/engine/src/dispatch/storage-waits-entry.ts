import type { JsonObject } from '@cairn/core';
import type { PreparedDispatch } from './prepared-dispatch.ts';
import type { ResultRead } from './read-result.ts';

/**
 * The attempt's waits for storage, for its history (its `attempt.completed` entry): each storage
 * operation of the worker's or of the engine's (reading the result) that waited for an outage to
 * end, how long, after how many retries, and why. A storage fault is the platform's: the item
 * spent no attempt on it, and its history says it waited.
 */
export function storageWaitsOf(read: ResultRead): { storageWaits?: JsonObject[] } {
  if (read === undefined || 'rejected' in read || !read.storageWaits || read.storageWaits.length === 0) return {};
  return { storageWaits: read.storageWaits.map(({ by, waitedMs, retries, reason }) => ({ by, waitedMs, retries, reason })) };
}

/** The engine's waits for storage as it stored the attempt's manifest, for its `attempt.dispatched` entry. */
export function dispatchWaitsOf(dispatch: Pick<PreparedDispatch, 'storageWaits'>): { storageWaits?: JsonObject[] } {
  if (!dispatch.storageWaits || dispatch.storageWaits.length === 0) return {};
  return { storageWaits: dispatch.storageWaits.map(({ waitedMs, retries, reason }) => ({ by: 'engine', waitedMs, retries, reason })) };
}
