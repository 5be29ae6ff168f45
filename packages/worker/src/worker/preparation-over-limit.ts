import { CairnError } from '@cairn/protocol';

/**
 * A disk limit's failure (AttemptMounts.limitReached), said of preparing the workspace: the
 * snapshot and the item's inputs did not fit, and nothing was run. Same code, and no `cause`, so
 * that nothing mistakes it for a full host disk, which the worker waits out. A full host disk under
 * the mounts (CAIRN_ATTEMPT_HOST_DISK_FULL) is not the item's doing and is returned as it is.
 */
export function preparationOverLimit(reached: CairnError): CairnError {
  if (reached.code !== 'CAIRN_ATTEMPT_DISK_EXCEEDED') return reached;
  return new CairnError(
    reached.code,
    `The workspace snapshot and the item's inputs do not fit in the attempt's disk limit; nothing was run. ${reached.message}`,
    {
      ...(reached.path === undefined ? {} : { path: reached.path }),
      details: reached.details,
    },
  );
}
