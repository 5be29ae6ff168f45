import { X509Certificate } from 'node:crypto';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { CairnError, type ValidationIssue } from '@cairn/protocol';

/**
 * What a bound host's certificate is checked against once the proxy terminated the sandbox's TLS:
 * Node's roots, as any client would use, and the settings' extra CAs (an organisation's internal
 * one, a test's). Throws CAIRN_CONFIG_INVALID naming each `egress.trust[i]` that is no certificate,
 * so a typo fails at start rather than as every bound host's connection failing. Returns the one
 * secure context every terminated tunnel checks hosts with.
 */
export function upstreamTrust(extra: readonly string[]): () => SecureContext {
  const issues: ValidationIssue[] = extra.flatMap((pem, index) => {
    try {
      new X509Certificate(pem);
      return [];
    } catch {
      return [{ code: 'CAIRN_CONFIG_INVALID' as const, path: `egress.trust[${index}]`, message: 'is not a PEM certificate' }];
    }
  });
  if (issues.length > 0)
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `[cairn] [egress] invalid settings: ${issues.map((issue) => `"${issue.path}" ${issue.message}`).join('; ')}.`,
      {
        path: issues[0]!.path,
        issues,
        action: 'Give each trusted CA as a PEM certificate (-----BEGIN CERTIFICATE-----).',
      },
    );
  // Made at the first terminated tunnel, then kept: a proxy without bindings never pays for it.
  let context: SecureContext | undefined;
  return () => (context ??= createSecureContext({ ca: [...rootCertificates, ...extra] }));
}
