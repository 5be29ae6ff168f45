import { createHash } from 'node:crypto';

/**
 * The RunTask `clientToken` of an execution: base64url of the SHA-256 of its id, 43 characters.
 * ECS accepts up to 64 printable ASCII characters and keeps a token for 24 hours per cluster, so
 * a start retried after a timeout or a server restart gets the task the first call started.
 * Hashed, because execution ids (`<runId>/<itemId>/<attempt>`) can be longer than 64.
 */
export function clientTokenOf(executionId: string): string {
  return createHash('sha256').update(executionId, 'utf8').digest('base64url').slice(0, 64);
}
