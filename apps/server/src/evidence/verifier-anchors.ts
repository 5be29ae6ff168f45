import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { GuaranteeTier } from '@cairn/core';
import type { TrustedAnchor } from '@cairn/audit';
import { createLocalAuditAnchor } from '@cairn/local';
import { CairnError } from '@cairn/protocol';

/**
 * The kinds of anchor `cairn verify --online` and `cairn audit verify-log --online` can read, and
 * what each guarantees: the verifier's own table, never a receipt's declaration. A `file` anchor is
 * a directory its operator can rewrite, so it is `detect` and never raises the claim; a kind not in
 * this table cannot be read, so it is refused rather than trusted.
 */
export const verifierAnchorKinds: Readonly<Record<string, { readonly guarantee: GuaranteeTier; readonly open: (location: string) => TrustedAnchor }>> = {
  file: { guarantee: 'detect', open: fileAnchor },
};

/**
 * A trusted anchor from `<kind>:<location>` (`file:/srv/cairn/cairn-data/anchor`), as given with
 * `--anchor` (`where` names the option). An unknown kind or an empty location is bad input
 * (CAIRN_PAYLOAD_INVALID) naming what is known.
 */
export function trustedAnchorOf(specification: string, where: string): TrustedAnchor {
  const separator = specification.indexOf(':');
  const kind = separator < 0 ? specification : specification.slice(0, separator);
  const location = separator < 0 ? '' : specification.slice(separator + 1);
  const known = Object.hasOwn(verifierAnchorKinds, kind) ? verifierAnchorKinds[kind] : undefined;
  if (!known || location === '') {
    const kinds = Object.keys(verifierAnchorKinds).join(', ');
    const problem = known ? 'names no location' : `names a kind of anchor this verifier cannot read ('${kind}'; it reads: ${kinds})`;
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `${where} ${JSON.stringify(specification)} ${problem}. Write <kind>:<location>, e.g. file:./cairn-data/anchor (a server's anchor directory).`,
      { path: where },
    );
  }
  return known.open(location);
}

/**
 * A `file` anchor's directory, read live through the local anchor itself (its own tamper checks:
 * envelope digest, receipt file, journal). A directory that is gone holds nothing: it is not
 * created again by reading it.
 */
function fileAnchor(location: string): TrustedAnchor {
  const directory = resolve(location);
  const anchor = createLocalAuditAnchor({ directory });
  return {
    name: `file:${directory}`,
    guarantee: verifierAnchorKinds['file']!.guarantee,
    read: async (reference) => (existsSync(directory) ? anchor.read(reference) : null),
  };
}
