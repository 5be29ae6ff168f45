import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { CairnError } from '@cairn/protocol';

/**
 * The PEM of a TSA certificate file (an `rfc3161` anchor's `trustedCertificate`, or
 * `--trusted-tsa-cert`), checked to be an X.509 certificate allowed to timestamp. A file that
 * cannot be read, or holds something else, is CAIRN_CONFIG_INVALID naming `where` and the file.
 */
export function readTsaCertificate(file: string, where: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `${where}: cannot read the TSA certificate ${file}: ${(error as Error).message}. Save the TSA's PEM certificate there.`,
      {
        path: where,
        cause: error,
      },
    );
  }
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(text);
  } catch (error) {
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `${where}: ${file} is not a PEM X.509 certificate (${(error as Error).message}). Save the TSA's signing certificate there.`,
      {
        path: where,
        cause: error,
      },
    );
  }
  if (!certificate.keyUsage?.includes('1.3.6.1.5.5.7.3.8')) {
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `${where}: ${file} names ${certificate.subject.replaceAll('\n', ', ')}, which is not allowed to timestamp (no timeStamping extended key usage). Give the TSA's signing certificate, not its CA's.`,
      { path: where },
    );
  }
  return text;
}
