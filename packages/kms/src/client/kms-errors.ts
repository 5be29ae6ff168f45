import { CairnError, type CairnErrorCode } from '@cairn/protocol';

/** The KMS API calls this package makes, each with the IAM permission it needs. */
export type KmsOperation = 'Sign' | 'GetPublicKey' | 'DescribeKey' | 'GenerateDataKey' | 'Decrypt';

/** What to do about a KMS error, by its name; `{permission}` is the call's IAM action (kms:Sign, …). */
const fixes: Readonly<Record<string, string>> = {
  AccessDeniedException:
    'the identity the SDK found (AWS_* variables, the shared config, or the role) may not call {permission} on this key: allow {permission} in the key policy or an IAM policy',
  NotFoundException: 'no key with this id, ARN or alias exists in this account and region: fix keyId, region or endpoint',
  DisabledException: 'the key is disabled: enable it (`aws kms enable-key --key-id …`), or point keyId at an enabled key',
  KMSInvalidStateException: 'the key is not usable now (pending deletion, pending import, or unavailable): cancel its deletion or use another key',
  InvalidKeyUsageException:
    'the key cannot do this: the signer needs an ECC_NIST_P256 key with usage SIGN_VERIFY, the cipher a SYMMETRIC_DEFAULT key with usage ENCRYPT_DECRYPT',
  UnsupportedOperationException:
    'the key cannot do this: the signer needs an ECC_NIST_P256 key with usage SIGN_VERIFY, the cipher a SYMMETRIC_DEFAULT key with usage ENCRYPT_DECRYPT',
  IncorrectKeyException: 'the ciphertext was encrypted under another KMS key: decrypt with the key that encrypted it',
  InvalidCiphertextException: 'the encrypted data key was altered, or the context differs from the one it was encrypted with',
  UnrecognizedClientException: 'the access key is unknown to this endpoint: check AWS_ACCESS_KEY_ID (or the profile), the region and the endpoint',
  InvalidSignatureException: 'the secret key does not match the access key: check AWS_SECRET_ACCESS_KEY (or the profile)',
  CredentialsProviderError:
    'the SDK found no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with a role (instance profile, ECS task role, web identity)',
  ExpiredTokenException: 'the session credentials expired: refresh them (the SDK does this for roles; check the credential source)',
  ThrottlingException: 'KMS kept throttling after every retry: raise maxAttempts, lower the request rate, or ask AWS for a higher KMS quota',
  ValidationException: 'KMS refused the request as malformed: check keyId, and that a cipher context maps non-empty names to strings (8 KiB at most in all)',
  LimitExceededException: 'a KMS quota is exhausted: lower the request rate or ask AWS for a higher quota',
};

/** The error's shape as the SDK throws it, read defensively: anything may reach a catch. */
function kmsErrorParts(error: unknown): { name: string | undefined; message: string | undefined; status: number | undefined } {
  const { name, message, $metadata } = (typeof error === 'object' && error !== null ? error : {}) as {
    name?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  return { name, message, status: $metadata?.httpStatusCode };
}

/** The KMS error name (`DisabledException`, …) of an SDK error, if it has one. */
export function kmsErrorName(error: unknown): string | undefined {
  return kmsErrorParts(error).name;
}

/**
 * A KMS failure as a CairnError of `code` that says which call failed on which key, what KMS
 * answered, and what to do, naming the permission the call needs. The SDK's error is kept as
 * `cause`. Never given key material or plaintext: only names, ids and KMS's own message.
 */
export function kmsFailure(error: unknown, operation: KmsOperation, key: string, code: CairnErrorCode, path: string): CairnError {
  const { name, message, status } = kmsErrorParts(error);
  const permission = `kms:${operation}`;
  const answered = status !== undefined ? `KMS answered ${status}${name ? ` ${name}` : ''}` : `the request failed (${name ?? 'error'})`;
  const detail = message && message !== name && message !== 'UnknownError' ? `: ${message}` : '';
  const fix = (
    (name ? fixes[name] : undefined) ??
    (message && /Region is missing/i.test(message) ? `no region is set: set "${path.replace(/\.keyId$/, '.region')}" or AWS_REGION` : undefined) ??
    (status === undefined
      ? 'check that the KMS endpoint is reachable from this machine (network, DNS, proxy) and try again'
      : status >= 500
        ? 'KMS kept failing after every retry: try again later'
        : `check the key, its policy ({permission}) and the credentials`)
  ).replaceAll('{permission}', permission);
  return new CairnError(code, `[cairn] [kms] ${operation} with ${key} failed: ${answered}${detail}. Fix: ${fix}.`, { path, cause: error });
}
