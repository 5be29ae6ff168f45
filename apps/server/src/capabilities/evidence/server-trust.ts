import { readFileSync } from 'node:fs';
import type { PublicKeyRecord } from '@cairn/core';
import type { TrustedAnchor } from '@cairn/audit';
import { CairnError } from '@cairn/protocol';
import type { LoadedServerConfig } from '../../config/load-server-config.ts';
import { readTsaCertificate } from './tsa-certificate-file.ts';
import { trustedKeyFromFile } from './trusted-key-file.ts';
import { s3ObjectLockAnchor, trustedAnchorOf } from './verifier-anchors.ts';

/**
 * The signing key a server's config pins (its public half): `cairn verify` and `cairn audit
 * verify-log` run in a server's folder trust it, instead of any key a bundle carries. A key file
 * that cannot be read is CAIRN_CONFIG_INVALID naming the file and what to do; a KMS signer's
 * public key is asked of KMS (GetPublicKey), and a refusal names the key and the fix.
 */
export async function serverSigningKey(loaded: LoadedServerConfig): Promise<PublicKeyRecord> {
  if (loaded.config.signer.kind === 'kms') {
    const { kind: _kind, ...settings } = loaded.config.signer;
    const signer = (await import('@cairn/kms')).createKmsSigner(settings);
    return { keyId: await signer.keyId(), algorithm: signer.algorithm, publicKey: Buffer.from(await signer.publicKey()).toString('base64') };
  }
  let text: string;
  try {
    text = readFileSync(loaded.paths.signingKey, 'utf8');
  } catch (error) {
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `Cannot read the server's signing key ${loaded.paths.signingKey} (named by ${loaded.file}): ${(error as Error).message}. Run as a user who can read it, or verify outside the server's folder with --trusted-key <keyId>.`,
      { path: loaded.paths.signingKey, cause: error },
    );
  }
  return trustedKeyFromFile(text, loaded.paths.signingKey);
}

/**
 * The anchors a server's config names, as a verifier reads them: a `local` anchor is a `file`
 * anchor at its directory; an `s3-object-lock` one is read at the bucket, prefix, endpoint and
 * region the config names (trusted as the config names it, `external-immutable`); an `rfc3161`
 * one is not read live (a TSA keeps nothing), its certificate is trusted instead.
 */
export function serverAnchors(loaded: LoadedServerConfig): TrustedAnchor[] {
  return loaded.config.anchors.flatMap((anchor, index) => {
    if (anchor.kind === 'local') return [trustedAnchorOf(`file:${loaded.paths.anchors[index]!}`, `config.anchors[${index}]`)];
    // A TSA holds nothing to read back: its token is checked offline, with serverTsaCertificates.
    if (anchor.kind === 'rfc3161') return [];
    const { bucket, prefix, region, endpoint, forcePathStyle, requestTimeoutMs, maxAttempts } = anchor;
    return [
      s3ObjectLockAnchor(
        {
          bucket,
          prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`,
          forcePathStyle,
          ...(region === undefined ? {} : { region }),
          ...(endpoint === undefined ? {} : { endpoint }),
        },
        { requestTimeoutMs, maxAttempts },
      ),
    ];
  });
}

/**
 * The TSA certificates of a server's `rfc3161` anchors (PEM): `cairn verify` in the server's
 * folder trusts them, so the bundles the server exports reach `witnessed` there without naming
 * the certificate again.
 */
export function serverTsaCertificates(loaded: LoadedServerConfig): string[] {
  return loaded.config.anchors.flatMap((anchor, index) =>
    anchor.kind === 'rfc3161' ? [readTsaCertificate(loaded.paths.tsaCertificates[index]!, `config.anchors[${index}].trustedCertificate`)] : [],
  );
}
