/**
 * The exit code of a supervisor that could not take its execution over because the disk under the
 * state directory is full (EX_TEMPFAIL of sysexits.h): its log is on that disk too, so the code is
 * all it can say, and the executor starts the execution again once there is room instead of
 * failing it.
 */
export const noRoomExitCode = 75;

/** Whether `error` (or one it wraps, through `cause`) is a write refused for want of room: ENOSPC or EDQUOT. */
export function isNoRoom(error: unknown): boolean {
  for (
    let current = error, depth = 0;
    current !== null && typeof current === 'object' && depth < 8;
    current = (current as { cause?: unknown }).cause, depth++
  ) {
    const { code } = current as { code?: unknown };
    if (code === 'ENOSPC' || code === 'EDQUOT') return true;
  }
  return false;
}
