import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { CairnError } from '@cairn/protocol';
import type { WorkerEgressSettings } from '@cairn/worker';
import type { z } from 'zod';
import type { localNetworkConfigSchema } from '../config/network-policy-config-schema.ts';

/**
 * The local executor's egress proxy settings from its `executor.network` (ADR 0049): the limits,
 * name servers and own addresses as given, and the certificates (PEM) of its `trust` files
 * (`trustFiles`, resolved against the config's folder), read now so that a file that cannot be read
 * or holds no certificate stops the server at start, naming it.
 */
export function egressSettingsOf(
  network: z.output<typeof localNetworkConfigSchema> | undefined,
  trustFiles: readonly string[],
  where: string,
): WorkerEgressSettings {
  const trust = trustFiles.flatMap((file, index) => trustedCertificates(file, `${where}.trust[${index}]`));
  return {
    limits: {
      ...(network?.limits?.connections ? { connections: network.limits.connections } : {}),
      ...(network?.limits?.bytes ? { bytes: network.limits.bytes } : {}),
    },
    nameServers: network?.nameServers ?? [],
    trust,
    ownAddresses: network?.ownAddresses ?? [],
  };
}

function trustedCertificates(file: string, where: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `${where}: cannot read the CA certificates ${file}: ${(error as Error).message}. Save the CA's PEM certificates there.`,
      {
        path: where,
        cause: error,
      },
    );
  }
  const certificates = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  for (const pem of certificates) {
    try {
      new X509Certificate(pem);
    } catch (error) {
      throw new CairnError('CAIRN_CONFIG_INVALID', `${where}: ${file} holds a certificate that is not valid X.509 (${(error as Error).message}).`, {
        path: where,
        cause: error,
      });
    }
  }
  if (certificates.length === 0)
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `${where}: ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----). Save the CA's PEM certificates there.`,
      {
        path: where,
      },
    );
  return certificates;
}
