import type { BackoffSpec } from '@cairn/core';
import { parseDuration } from '@cairn/protocol';

/**
 * Milliseconds to wait before attempt `attempt + 1`, after `attempt` attempts failed:
 * `initial × factor^(attempt-1)`, capped at `max`, then (by default) full jitter — uniform in
 * [0, delay] — so retries of many items spread out instead of arriving together.
 * Defaults: initial 1s, factor 2, max 5m.
 */
export function retryDelay(attempt: number, backoff: BackoffSpec = {}, random: () => number = Math.random): number {
  const initial = backoff.initial ? parseDuration(backoff.initial) : 1_000;
  const max = backoff.max ? parseDuration(backoff.max) : 300_000;
  const delay = Math.min(max, initial * (backoff.factor ?? 2) ** Math.max(0, attempt - 1));
  return backoff.jitter === false ? delay : Math.floor(random() * delay);
}
