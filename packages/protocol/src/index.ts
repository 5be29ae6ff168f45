export { CairnError, isCairnError } from './errors/cairn-error.ts';
export type { CairnErrorOptions, ValidationIssue } from './errors/cairn-error.ts';
export { errorCatalogue, errorCodes } from './errors/error-catalogue.ts';
export type { CairnErrorCode, ErrorDescription } from './errors/error-catalogue.ts';
export { canonicalJson, canonicalJsonBytes, stringifiesCanonically } from './json/canonical-json.ts';
export { formatJsonPath, formatPathSegment } from './json/json-path.ts';
export { parseJsonPath, selectJsonPath, type JsonPathStep } from './json/select-json-path.ts';
export { assertDigest, digestOfJson, isDigest, parseDigest, sha256Digest } from './json/digest.ts';
export { formatDuration, isDurationText, parseDuration } from './json/duration.ts';
export { decodeRunSpec } from './spec/decode-run-spec.ts';
export { parseRunSpec } from './spec/parse-run-spec.ts';
export type { ParseRunSpecOptions } from './spec/parse-run-spec.ts';
export { assertRunSpec, loadRunSpec, validateRunSpec } from './spec/validate-run-spec.ts';
export type { LoadedRunSpec, RunSpecContext, RunSpecValidation } from './spec/validate-run-spec.ts';
export { runSpecLimits } from './spec/run-spec-limits.ts';
export { itemPriority, priorityLevels, runPriority } from './spec/priority-levels.ts';
export { approvalPolicyOf, needsApproval, type ApprovalPolicy } from './spec/approval-policy.ts';
export { runSpecJsonSchema } from './spec/run-spec-json-schema.ts';
export { entriesCover, hostEntryProblem, parseHostEntry, type HostEntry } from './spec/network-host-entry.ts';
export { networkIssues, type NetworkContext, type NetworkPolicy } from './spec/network-issues.ts';
export { runsOnIssues, type RunsOnContext } from './spec/runs-on-issues.ts';
export { networkAllowListSpecSchema, networkCredentialSpecSchema, networkSpecSchema } from './spec/network-spec-schema.ts';
export { environmentDiskBytes, environmentSpecSchema } from './spec/environment-spec-schema.ts';
export { mergeRuntimeSpecSchema } from './spec/merge-runtime-spec-schema.ts';
export { deliverRunIdPlaceholder, deliverRuntimeSpecSchema, fillDeliverPlaceholders } from './spec/deliver-runtime-spec-schema.ts';
export {
  agentRuntimeSpecSchema,
  backoffSpecSchema,
  budgetSpecSchema,
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
export {
  assertTransition,
  attemptStates,
  attemptTransitions,
  canTransition,
  isTerminalState,
  itemStates,
  itemTransitions,
  runStates,
  runTransitions,
} from './lifecycle/lifecycle-transitions.ts';
export type { TransitionTable } from './lifecycle/lifecycle-transitions.ts';
export { actorSchema, auditActorSchema } from './schemas/actor-schema.ts';
export { auditActions, auditEntityKinds, auditEntrySchema } from './schemas/audit-entry-schema.ts';
export { anchorReceiptSchema, checkpointSchema, dsseEnvelopeSchema, publicKeyRecordSchema } from './schemas/checkpoint-schemas.ts';
export { signerRotationSchema } from './schemas/signer-rotation-schema.ts';
export { cipherEnvelopeSchema } from './schemas/cipher-envelope-schema.ts';
export { base64Schema, hashHexSchema, isTimestamp, timestampSchema } from './schemas/common-schemas.ts';
export { batchedManifestSchema, dispatchManifestSchema, manifestBatchSchema, storedManifestSchema } from './schemas/dispatch-manifest-schema.ts';
export { evidenceBundleSchema } from './schemas/evidence-bundle-schema.ts';
export { keyDelegationSchema } from './schemas/key-delegation-schema.ts';
export { modelCallDataSchema } from './schemas/model-call-data-schema.ts';
export { attemptFailureSchema, attemptFailureSummarySchema } from './schemas/attempt-failure-schema.ts';
export { cairnEventSchema } from './schemas/event-schema.ts';
export { executionHandleSchema, executionStatusSchema, taskEnvelopeSchema } from './schemas/execution-schemas.ts';
export { liveLogStateSchema } from './schemas/live-log-state-schema.ts';
export { parsePayload } from './schemas/parse-payload.ts';
export { runnerLabelLimit, runnerLabelPattern, runnerLabelSchema, runnerLabelsSchema } from './runner/runner-label.ts';
export { runnerLeaseSchema, runnerPollAnswerSchema, runnerPollLimits, runnerPollRequestSchema } from './runner/runner-poll-schemas.ts';
export type { RunnerLease, RunnerPollAnswer, RunnerPollRequest } from './runner/runner-poll-schemas.ts';
export { runnerExitsAnswerSchema, runnerExitsRequestSchema, runnerExitStatusSchema } from './runner/runner-exits-schemas.ts';
export type { RunnerExit, RunnerExitRefusal, RunnerExitsAnswer, RunnerExitsRequest, RunnerExitStatus } from './runner/runner-exits-schemas.ts';
export { resultRecordSchema } from './schemas/result-record-schema.ts';
export { blobKey, delegationKey, liveLogSegmentBytes, liveLogSegmentKey, liveLogStateKey, manifestKey, resultKey } from './storage/storage-keys.ts';
export { assertContentMatchesKey, assertDigestMatchesKey, digestNamedByKey } from './storage/content-addressed-key.ts';
export { compareStorageKeys, isStorageKey, storageKeySegments } from './storage/storage-key.ts';
export { assertAnchorCheckpoint } from './anchor/anchor-checkpoint.ts';
export { PerKeyQueue } from './anchor/per-key-queue.ts';
export { isTransientServiceError, withRetries } from './retry/with-retries.ts';
export type { RetryPolicy } from './retry/with-retries.ts';
export { recordRetryWaits, retryWaitReason } from './retry/retry-waits.ts';
export type { RetryWait } from './retry/retry-waits.ts';
export { parseSettings } from './errors/parse-settings.ts';
export {
  children,
  DerError,
  derTag,
  encodeElement,
  encodeInteger,
  encodeObjectIdentifier,
  encodeSequence,
  expectTag,
  generalizedTime,
  objectIdentifier,
  readElement,
  smallInteger,
} from './der/der.ts';
export type { DerElement } from './der/der.ts';
export const VERSION = '0.1.0';
