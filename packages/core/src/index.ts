// @cairn/core is types only (ADR 0001): this file must compile to an empty module.
export type { JsonObject, JsonValue } from './model/json.ts';
export type { Digest } from './model/digest.ts';
export type {
  AgentRuntimeSpec,
  BackoffSpec,
  CommandRuntimeSpec,
  DurationText,
  ItemApproval,
  ItemDefaultsSpec,
  ItemEffect,
  ItemSpec,
  LockMode,
  LockSpec,
  NeedSelection,
  NeedSpec,
  RetrySpec,
  RunSpecV1,
  RuntimeSpec,
  WorkspaceSpec,
} from './model/run-spec.ts';
