import type { S3ClientConfig } from '@aws-sdk/client-s3';

/**
 * The logger the S3 clients Cairn builds are given: one without `info` and `error`.
 *
 * The SDK's logger middleware calls `logger?.info?.({ input: filter(input), output: filter(output) })`
 * after every request (`logger?.error?.(...)` after every failure, a 404 included), and its default
 * logger's `info` does nothing: so every request built a copy of its input and output, walked
 * against the operation's schema to mask sensitive members, only to drop it. That was about a
 * quarter of the SDK's CPU per small PUT or GET here. Without the two methods the optional calls
 * stop before their arguments are evaluated, so no record is built. `debug` and `warn` are called
 * without `?.` by parts of the SDK, so they stay, and drop what they are given as the default
 * logger does (Cairn never surfaced the SDK's own log lines; its errors reach callers as thrown
 * errors, which this does not touch).
 */
export const s3SdkLogger = {
  debug: () => {},
  warn: () => {},
} as unknown as NonNullable<S3ClientConfig['logger']>;
