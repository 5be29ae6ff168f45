import type { AttemptView, ItemView } from '@cairn/client';

/**
 * The merges of a run that re-ran a producer (`onConflict: rerun`): each added `<merge>/<producer>`,
 * where both are items of the run. Their first attempts failed with the conflict and their
 * `failure` is null again once they succeeded, so only their attempts say why the re-run is there;
 * only these are asked for their attempts, and a run that did not grow this way costs no request.
 */
export function rerunMerges(items: readonly Pick<ItemView, 'itemId' | 'state'>[]): Pick<ItemView, 'itemId' | 'state'>[] {
  const byId = new Map(items.map((item) => [item.itemId, item]));
  const merges = new Set<Pick<ItemView, 'itemId' | 'state'>>();
  for (const { itemId } of items) {
    const cut = itemId.lastIndexOf('/');
    const merge = cut > 0 ? byId.get(itemId.slice(0, cut)) : undefined;
    if (merge !== undefined && byId.has(itemId.slice(cut + 1))) merges.add(merge);
  }
  return [...merges];
}

/**
 * One line per earlier failed attempt of an item that has not failed now (a failed item's latest
 * failure is `failureLines`'s): `combine attempt 1 failed: CAIRN_MERGE_CONFLICT The patch of item
 * "beta" ... (re-ran beta as combine/beta)`. Only the message's first line: the hunks beneath it
 * were made moot by the re-run, and `cairn logs <runId> <item>` keeps them.
 */
export function earlierFailureLines(
  item: Pick<ItemView, 'itemId' | 'state'>,
  attempts: readonly Pick<AttemptView, 'attempt' | 'state' | 'failure'>[],
): string[] {
  if (item.state === 'failed') return [];
  return attempts.flatMap(({ attempt, state, failure }) => {
    if (state !== 'failed' || failure === null) return [];
    // eslint-disable-next-line no-control-regex
    const summary = (failure.message.split(/\r?\n/)[0] ?? '').replace(/[\u0000-\u001f\u007f-\u009f]/g, '');
    const rerun = failure.mergeConflict === undefined ? '' : ` (re-ran ${failure.mergeConflict.from} as ${item.itemId}/${failure.mergeConflict.from})`;
    return [`${item.itemId} attempt ${attempt} failed: ${failure.code} ${summary}${rerun}`];
  });
}
