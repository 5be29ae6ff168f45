import { createHash } from 'node:crypto';
import type { AuditAnchorV1 } from '@cairn/core';
import { isCairnError } from '@cairn/protocol';

/**
 * `cairn doctor`'s check of an `rfc3161` anchor: a probe (not a checkpoint: origin `cairn-doctor`)
 * stamped through the anchor itself, so the reply passes every check a checkpoint's would (status,
 * the trusted certificate, the hash, the nonce). A TSA that is down or refuses is named with the fix.
 */
export async function diagnoseTsa(
  anchor: AuditAnchorV1,
  index: number,
  note: (check: string, ok: boolean, detail: string, fix?: string) => void,
): Promise<void> {
  const envelope = new TextEncoder().encode(`cairn doctor ${new Date().toISOString()}`);
  const check = `anchors[${index}] rfc3161`;
  try {
    const receipt = await anchor.anchor({
      origin: 'cairn-doctor',
      treeSize: Date.now(),
      rootHash: createHash('sha256').update(envelope).digest('hex'),
      envelope,
    });
    note(check, true, `${receipt.location}: a probe was stamped at ${receipt.anchoredAt} and its token verified with the trusted certificate`);
  } catch (error) {
    const unavailable = isCairnError(error, 'CAIRN_ANCHOR_UNAVAILABLE');
    note(
      check,
      false,
      isCairnError(error) ? `${error.code}: ${error.message}` : String(error),
      unavailable
        ? "check that the TSA's url is reachable from this machine; checkpoints queue until it answers"
        : "check that url is the TSA's RFC 3161 endpoint and trustedCertificate is the certificate it signs with",
    );
  }
}
