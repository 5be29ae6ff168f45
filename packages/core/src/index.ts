// @cairn/core is types only (ADR 0001): this file must compile to an empty module.

// The seams.
export type { AnchorCheckpoint, AnchoredCheckpoint, AuditAnchorV1 } from './seams/audit-anchor.ts';
export type { AuthenticatedPrincipal, AuthorizationDecision, AuthorizationResource, AuthorizerV1 } from './seams/authorizer.ts';
export type { CipherContext, CipherEnvelope, CipherV1 } from './seams/cipher.ts';
export type { ExecutorCapabilities, ExecutorV1 } from './seams/executor.ts';
export type {
  ChangeRequest,
  ChangeRequestComment,
  ChangeRequestDraft,
  ChangeRequestState,
  ForgeBranchPush,
  ForgeBranchTip,
  ForgeCapabilities,
  ForgeGitAccess,
  ForgeV1,
  PushedBranch,
} from './seams/forge.ts';
export type { RuntimeAdapterV1, RuntimeInvocation, RuntimeResult, RuntimeSinks } from './seams/runtime-adapter.ts';
export type { SignerV1 } from './seams/signer.ts';
export type {
  StorageListOptions,
  StorageListPage,
  StorageObjectMetadata,
  StoragePutOptions,
  StoragePutResult,
  StorageProviderCapabilities,
  StorageProviderV1,
  StorageStray,
} from './seams/storage-provider.ts';

// The domain model.
export type { AttemptFailure, AttemptFailureSummary, MergeConflictPoint } from './model/attempt-failure.ts';
export type { Actor, ActorChannel, ActorKind, AuditActor } from './model/actor.ts';
export type { AuditAction, AuditEntityKind, AuditEntry, AuditOutcome } from './model/audit-entry.ts';
export type { Checkpoint, CheckpointReference, DsseEnvelope, DsseSignature } from './model/checkpoint.ts';
export type { Digest } from './model/digest.ts';
export type { KeyDelegation, KeyDelegationPurpose } from './model/key-delegation.ts';
export type {
  BatchedManifest,
  DispatchManifest,
  ManifestCandidate,
  ManifestBatch,
  ManifestInput,
  ManifestLimits,
  ManifestNetworkAllowList,
  StoredManifest,
} from './model/dispatch-manifest.ts';
export type { AttemptStateEvent, CairnEvent, CairnEventType, ItemStateEvent, RunStateEvent } from './model/event.ts';
export type {
  AnchorReceipt,
  EgressRecordCounts,
  EvidenceClaim,
  GuaranteeTier,
  VerificationCheck,
  VerificationCheckName,
  VerificationCheckStatus,
  VerificationReport,
  VerificationVerdict,
} from './model/evidence.ts';
export type { BundleArtifact, BundleArtifactKind, BundleFragment, BundleManifest, EvidenceBundleV1 } from './model/evidence-bundle.ts';
export type { ExecutionHandle, ExecutionOutcome, ExecutionState, ExecutionStatus, TaskEnvelope, TaskGateway, TaskTraceContext } from './model/execution.ts';
export type { JsonObject, JsonValue } from './model/json.ts';
export type { ModelApi, ModelCallData, ModelCallSpend, ModelProvider } from './model/model-call-data.ts';
export type { AttemptState, ItemState, RunState, TerminalAttemptState, TerminalItemState, TerminalRunState } from './model/lifecycle.ts';
export type { ItemLogEnd, ItemLogLine } from './model/item-log-line.ts';
export type { LiveLogState, LiveLogStreamProgress, LogStream } from './model/live-log.ts';
export type { Logger } from './model/logger.ts';
export type {
  AttemptEnvironment,
  CandidateCheckResult,
  EgressRefusal,
  EgressSummary,
  LimitHit,
  PatchStats,
  ResultArtifacts,
  ResultRecord,
  StorageWait,
} from './model/result-record.ts';
export type {
  AgentRuntimeSpec,
  BackoffSpec,
  BudgetSpec,
  EmitsSpec,
  ForEachSpec,
  CandidatesSpec,
  CandidateVariation,
  SelectSpec,
  CandidateCheckSpec,
  CandidateJudgeSpec,
  CandidateOrder,
  CommandRuntimeSpec,
  DurationText,
  ItemApproval,
  ApprovalPolicySpec,
  ItemDefaultsSpec,
  ItemEffect,
  ItemOnLost,
  ItemPriority,
  ItemSpec,
  LockMode,
  LockSpec,
  MergeConflictPolicy,
  MergeRuntimeSpec,
  DeliverRuntimeSpec,
  NeedSelection,
  NeedSpec,
  NetworkAllowListSpec,
  EnvironmentSpec,
  RunsOnSpec,
  NetworkCredentialSpec,
  NetworkSpec,
  PathRules,
  RetrySpec,
  RunSpecV1,
  RuntimeSpec,
  WorkspaceSpec,
} from './model/run-spec.ts';
export type { PublicKeyRecord, SignatureAlgorithm } from './model/signature.ts';
export type { SignerRotation } from './model/signer-rotation.ts';
