import { readFileSync } from 'node:fs';
import type { PublicKeyRecord } from '@cairn/core';
import type { TrustedAnchor } from '@cairn/audit';
import { CairnError } from '@cairn/protocol';
import type { LoadedServerConfig } from '../config/load-server-config.ts';
import { trustedKeyFromFile } from './trusted-key-file.ts';
import { trustedAnchorOf } from './verifier-anchors.ts';

/** What a server's own folder tells a verifier to trust. */
export interface ServerTrust {
  /** The server's signing key (its public half). */
  readonly key: PublicKeyRecord;
  /** The anchors its config names, as the verifier reads them (`local` → a `file` anchor). */
  readonly anchors: readonly TrustedAnchor[];
}

/**
 * The trust a server's config pins: `cairn verify` and `cairn audit verify-log` run in a server's
 * folder trust its signing key and read its configured anchors, instead of anything a bundle
 * carries. A signing key that cannot be read is CAIRN_CONFIG_INVALID naming the file.
 */
export function serverTrust(loaded: LoadedServerConfig): ServerTrust {
  let text: string;
  try {
    text = readFileSync(loaded.paths.signingKey, 'utf8');
  } catch (error) {
    throw new CairnError('CAIRN_CONFIG_INVALID', `Cannot read the server's signing key ${loaded.paths.signingKey} (named by ${loaded.file}): ${(error as Error).message}. Run as a user who can read it, or verify outside the server's folder with --trusted-key <keyId>.`, { path: loaded.paths.signingKey, cause: error });
  }
  return { key: trustedKeyFromFile(text, loaded.paths.signingKey), anchors: loaded.paths.anchors.map((directory, index) => trustedAnchorOf(`file:${directory}`, `config.anchors[${index}]`)) };
}
