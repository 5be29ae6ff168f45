/**
 * How long a runner waits before its `failures`-th attempt to reach the server again: `firstMs`
 * doubled per failure up to `maxMs`, of which a random half is taken off, so that runners cut off
 * together (a server restart) do not all come back in the same instant. `random` is in [0, 1).
 */
export function reconnectDelayMs(failures: number, bounds: { readonly firstMs: number; readonly maxMs: number }, random: number): number {
  const ceiling = Math.min(bounds.maxMs, bounds.firstMs * 2 ** Math.min(Math.max(failures, 1) - 1, 30));
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}
