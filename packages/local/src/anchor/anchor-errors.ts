import { CairnError } from '@cairn/protocol';
import { errorCode } from '../storage/error-code.ts';

/** The anchor directory failed under an operation: CAIRN_ANCHOR_UNAVAILABLE naming what and where. */
export function anchorUnavailable(what: string, path: string, cause: unknown): CairnError {
  const code = errorCode(cause);
  return new CairnError(
    'CAIRN_ANCHOR_UNAVAILABLE',
    `[cairn] [local] ${what} failed at ${path}${code === undefined ? '' : ` (${code})`}: check that the anchor directory (setting "local.anchor.directory") exists, is writable and belongs to the user Cairn runs as. The engine keeps the checkpoint queued and retries.`,
    { path, details: { path, ...(code === undefined ? {} : { errno: code }) }, cause },
  );
}

/** What the anchor directory holds for a checkpoint no longer matches what was anchored. */
export function anchorTampered(origin: string, treeSize: number, path: string, finding: string): CairnError {
  return new CairnError(
    'CAIRN_ANCHOR_TAMPERED',
    `[cairn] [local] the checkpoint of "${origin}" at tree size ${treeSize} no longer matches what was anchored: ${finding} (${path}). The anchor directory was modified outside Cairn; investigate before trusting the log, and compare with a copy a verifier kept.`,
    { path, details: { origin, treeSize, path } },
  );
}
