import { CairnError, type CairnErrorCode } from '@cairn/protocol';
import { isRetryableEcsError } from './ecs-retries.ts';

/** The ECS API calls the executor makes; each needs the IAM permission `ecs:<name>`. */
export type EcsOperation = 'RunTask' | 'DescribeTasks' | 'StopTask';

/** What to do about an ECS error, by its name; `{permission}` is the call's IAM action. */
const fixes: Readonly<Record<string, string>> = {
  AccessDeniedException:
    "the identity the SDK found (AWS_* variables, the shared config, or the server's role) may not call {permission}: allow it (RunTask also needs iam:PassRole on the task's roles)",
  ClusterNotFoundException: 'no such cluster in this account and region: fix fargate.cluster, region or endpoint',
  InvalidParameterException: 'ECS refused a parameter: check taskDefinition, containerName, subnets and security groups (the message names which)',
  ClientException: 'ECS refused the request: check taskDefinition (family, family:revision or ARN), and that the container name is in it',
  PlatformUnknownException: 'the platformVersion is unknown: use LATEST or a listed Fargate platform version',
  PlatformTaskDefinitionIncompatibilityException:
    'the task definition is not Fargate-compatible: requiresCompatibilities FARGATE, networkMode awsvpc, task-level cpu and memory',
  UnsupportedFeatureException: 'the feature is not available in this region',
  BlockedException: 'the AWS account is blocked: contact AWS support',
  ThrottlingException: 'ECS kept throttling after every retry: raise maxAttempts, lower the dispatch rate, or ask AWS for a higher ECS API quota',
  UnrecognizedClientException: 'the access key is unknown to this endpoint: check AWS_ACCESS_KEY_ID (or the profile), the region and the endpoint',
  InvalidSignatureException: 'the secret key does not match the access key: check AWS_SECRET_ACCESS_KEY (or the profile)',
  CredentialsProviderError:
    'the SDK found no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with a role (instance profile, ECS task role, web identity)',
  ExpiredTokenException: 'the session credentials expired: refresh them (the SDK does this for roles; check the credential source)',
};

/** The error's shape as the SDK throws it, read defensively: anything may reach a catch. */
export function ecsErrorParts(error: unknown): { name: string | undefined; message: string | undefined; status: number | undefined } {
  const { name, message, $metadata } = (typeof error === 'object' && error !== null ? error : {}) as {
    name?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  return { name, message, status: $metadata?.httpStatusCode };
}

/**
 * An ECS failure as a CairnError that says which call failed on what, what ECS answered and what to
 * do. Transient failures (throttling, 5xx, no connection, after every retry) are
 * CAIRN_EXECUTOR_UNAVAILABLE, refusals are `refusal` (CAIRN_EXECUTOR_START_FAILED for RunTask).
 * The SDK's error is kept as `cause`.
 */
export function ecsFailure(error: unknown, operation: EcsOperation, subject: string, refusal: CairnErrorCode, path: string): CairnError {
  const { name, message, status } = ecsErrorParts(error);
  const permission = `ecs:${operation}`;
  const answered = status !== undefined ? `ECS answered ${status}${name ? ` ${name}` : ''}` : `the request failed (${name ?? 'error'})`;
  const detail = message && message !== name && message !== 'UnknownError' ? `: ${message}` : '';
  const fix = (
    (name ? fixes[name] : undefined) ??
    (message && /Region is missing/i.test(message) ? 'no region is set: set fargate.region or AWS_REGION' : undefined) ??
    (status === undefined
      ? 'check that the ECS endpoint is reachable from this machine (network, DNS, proxy) and try again'
      : status >= 500
        ? 'ECS kept failing after every retry: try again later'
        : 'check the executor settings, the IAM policy ({permission}) and the credentials')
  ).replaceAll('{permission}', permission);
  const code = isRetryableEcsError(error) ? 'CAIRN_EXECUTOR_UNAVAILABLE' : refusal;
  return new CairnError(code, `[cairn] [fargate] ${operation} for ${subject} failed: ${answered}${detail}. Fix: ${fix}.`, { path, cause: error });
}
