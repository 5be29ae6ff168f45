/**
 * Runs every step of an undo, in the order given, even when one fails, then throws the first
 * failure. An attempt's layers are undone so (the overlay, the snapshot's bind, the cache's hold,
 * the attempt's volume and /tmp): one step that fails must not leave the mounts of the steps after
 * it in place, where only a later sweep would find them and the removal of the attempt's folder
 * meets them (EBUSY, or EROFS inside the snapshot's read-only bind).
 */
export async function undoEach(steps: Iterable<() => Promise<unknown>>): Promise<void> {
  let failure: { readonly error: unknown } | undefined;
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure) throw failure.error;
}
