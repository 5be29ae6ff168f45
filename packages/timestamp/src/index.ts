export { createRfc3161Anchor, Rfc3161Anchor, rfc3161AnchorSettingsSchema } from './anchor/rfc3161-anchor.ts';
export type { Rfc3161AnchorSettings } from './anchor/rfc3161-anchor.ts';
export { timestampQueryType, timestampReplyType, timestampRequest } from './request/timestamp-request.ts';
export { readTimestampResponse } from './request/timestamp-response.ts';
export type { TimestampResponse } from './request/timestamp-response.ts';
export const VERSION = '0.1.0';
