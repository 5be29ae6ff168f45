/**
 * How large a request body each kind of route reads, in bytes. A body over its route's limit is
 * refused before it is parsed, so no request — an unauthenticated one least of all — makes the
 * server hold more than its route could use.
 */
export const bodyLimits = {
  /** A run spec may be 32 MiB; a little more for the JSON around it (a submit, a schedule). */
  runSpec: 34 * 1024 * 1024,
  /** An upload (a workspace snapshot) unless `server.uploadLimitMiB` says otherwise. */
  upload: 256 * 1024 * 1024,
  /** The one route anyone may call (`POST /v1/session/redeem`): its body is a short code. */
  signInCode: 1024,
  /** Every other body: a token, a secret, a webhook, a reason. */
  other: 1024 * 1024,
} as const;
