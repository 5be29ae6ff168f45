// `@cairn/protocol/spec`: reading a run spec without judging it, and without building a schema:
// its bytes to text (strict UTF-8) and its text to a plain value (JSON, or YAML, whose parser loads
// only for a YAML text). `cairn submit` decodes a spec and sends its text with this entry alone,
// no zod; checking its shape (`validateRunSpec`, `loadRunSpec`) needs the run-spec schemas, which
// the root entry builds as it loads.
export { decodeRunSpec } from './decode-run-spec.ts';
export { parseRunSpec } from './parse-run-spec.ts';
export type { ParseRunSpecOptions } from './parse-run-spec.ts';
export { runSpecLimits } from './run-spec-limits.ts';
