import { CairnError, type CairnErrorCode } from '@cairn/protocol';

/** What to do about an S3 error, by its name: the part of the message a person acts on. */
const fixes: Readonly<Record<string, string>> = {
  AccessDenied:
    'the credentials lack the permission, or a bucket policy refuses it: grant it to the identity the SDK found (AWS_* variables, the shared config, or the role)',
  InvalidAccessKeyId: 'the access key is unknown to this endpoint: check AWS_ACCESS_KEY_ID (or the profile) and the endpoint',
  SignatureDoesNotMatch: 'the secret key does not match the access key: check AWS_SECRET_ACCESS_KEY (or the profile)',
  NoSuchBucket: 'the bucket does not exist at this endpoint and region: create it, or fix the bucket name, region or endpoint (Cairn never creates a bucket)',
  PermanentRedirect: "the bucket lives in another region: set region to the bucket's",
  AuthorizationHeaderMalformed: "the region does not match the bucket's: set region to the bucket's",
  KMS: 'the KMS key refused the request: check the key id and that the identity may use it (kms:GenerateDataKey, kms:Decrypt)',
};

/**
 * An S3 failure as a CairnError of `code` (CAIRN_STORAGE_UNAVAILABLE for storage,
 * CAIRN_ANCHOR_UNAVAILABLE for the anchor) that says what failed (`operation`, e.g. `put
 * blobs/ab12…`), where (`location`, e.g. `s3://bucket/prefix/ at http://…`), what S3 answered, and
 * what to do. The SDK's error is kept as `cause`.
 */
export function s3Failure(error: unknown, operation: string, location: string, code: CairnErrorCode): CairnError {
  const { name, message, $metadata } = (typeof error === 'object' && error !== null ? error : {}) as {
    name?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const status = $metadata?.httpStatusCode;
  const answered = status !== undefined ? `S3 answered ${status}${name ? ` ${name}` : ''}` : `the request failed (${name ?? 'error'})`;
  const detail = message && message !== name && message !== 'UnknownError' ? `: ${message}` : '';
  const fix =
    (name && (fixes[name] ?? (name.startsWith('KMS') ? fixes['KMS'] : undefined))) ??
    (status === undefined
      ? 'check that the endpoint is reachable from this machine (network, DNS, proxy) and try again'
      : status >= 500
        ? "S3 kept failing after every retry: try again later, or check the endpoint's health"
        : 'check the bucket, its configuration and the credentials');
  return new CairnError(code, `${operation} at ${location} failed: ${answered}${detail}. Fix: ${fix}.`, { cause: error });
}
