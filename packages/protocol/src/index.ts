export { CairnError, isCairnError } from './errors/cairn-error.ts';
export type { CairnErrorOptions, ValidationIssue } from './errors/cairn-error.ts';
export { errorCatalogue, errorCodes } from './errors/error-catalogue.ts';
export type { CairnErrorCode, ErrorDescription } from './errors/error-catalogue.ts';
export { canonicalJson, canonicalJsonBytes, formatPathSegment } from './json/canonical-json.ts';
export { assertDigest, digestOfJson, isDigest, parseDigest, sha256Digest } from './json/digest.ts';
export { formatDuration, isDurationText, parseDuration } from './json/duration.ts';
export const VERSION = '0.1.0';
