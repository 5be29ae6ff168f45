import { CairnError } from '@cairn/protocol';

/**
 * What the bucket holds for a checkpoint is not what was anchored (a version not locked, a
 * forged version, a receipt naming a version that is not there): CAIRN_ANCHOR_TAMPERED naming
 * the key, the version(s) and the finding.
 */
export function s3AnchorTampered(origin: string, treeSize: number, location: string, finding: string, versionIds: readonly string[] = []): CairnError {
  return new CairnError(
    'CAIRN_ANCHOR_TAMPERED',
    `[cairn] [s3] the checkpoint of "${origin}" at tree size ${treeSize} at ${location} does not match what was anchored: ${finding}. Something other than Cairn wrote to the anchor bucket (or a receipt was altered): investigate before trusting the log; locked versions cannot be removed, so the evidence stays.`,
    { path: location, details: { origin, treeSize, location, versionIds: [...versionIds] } },
  );
}
