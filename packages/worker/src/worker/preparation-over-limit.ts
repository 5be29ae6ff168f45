import { CairnError } from '@cairn/protocol';

/**
 * A disk limit's failure (AttemptMounts.limitReached), said of preparing the workspace: the
 * snapshot and the item's inputs did not fit, and nothing was run. Same code, and no `cause`, so
 * that nothing mistakes it for a full host disk, which the worker waits out.
 */
export function preparationOverLimit(reached: CairnError): CairnError {
  return new CairnError(
    reached.code,
    `The workspace snapshot and the item's inputs do not fit in the attempt's disk limit; nothing was run. ${reached.message}`,
    {
      ...(reached.path === undefined ? {} : { path: reached.path }),
      details: reached.details,
    },
  );
}
