export { CairnError, isCairnError } from './errors/cairn-error.ts';
export type { CairnErrorOptions, ValidationIssue } from './errors/cairn-error.ts';
export { errorCatalogue, errorCodes } from './errors/error-catalogue.ts';
export type { CairnErrorCode, ErrorDescription } from './errors/error-catalogue.ts';
export { canonicalJson, canonicalJsonBytes } from './json/canonical-json.ts';
export { formatJsonPath, formatPathSegment } from './json/json-path.ts';
export { assertDigest, digestOfJson, isDigest, parseDigest, sha256Digest } from './json/digest.ts';
export { formatDuration, isDurationText, parseDuration } from './json/duration.ts';
export { parseRunSpec } from './spec/parse-run-spec.ts';
export type { ParseRunSpecOptions } from './spec/parse-run-spec.ts';
export { loadRunSpec, validateRunSpec } from './spec/validate-run-spec.ts';
export type { RunSpecContext, RunSpecValidation } from './spec/validate-run-spec.ts';
export { runSpecLimits } from './spec/run-spec-limits.ts';
export {
  agentRuntimeSpecSchema,
  backoffSpecSchema,
  commandRuntimeSpecSchema,
  itemDefaultsSpecSchema,
  itemSpecSchema,
  lockSpecSchema,
  needSpecSchema,
  retrySpecSchema,
  runSpecV1Schema,
  runtimeSpecSchema,
  workspaceSpecSchema,
} from './spec/run-spec-schema.ts';
export { digestSchema } from './schemas/digest-schema.ts';
export type { SchemaImplements } from './schemas/schema-implements.ts';
export const VERSION = '0.1.0';
