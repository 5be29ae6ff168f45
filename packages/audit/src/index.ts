export { emptyTreeHash, hashLength, leafHash, leafHashOfText, nodeHash, perfectTreeHash } from './merkle/merkle-hash.ts';
export { verifyInclusion } from './merkle/verify-inclusion.ts';
export { verifyConsistency } from './merkle/verify-consistency.ts';
export { MerkleLog } from './merkle/merkle-log.ts';
export { verifyMultiInclusion } from './merkle/multi-inclusion-proof.ts';
export type { ProvenLeaf } from './merkle/multi-inclusion-proof.ts';
export { InMemoryMerkleNodeStore } from './merkle/in-memory-merkle-node-store.ts';
export type { MerkleNode, MerkleNodeStore } from './merkle/merkle-node-store.ts';
export { decodeBase64Strict, encodeBase64 } from './dsse/base64.ts';
export { openEnvelope, signEnvelope } from './dsse/dsse-envelope.ts';
export type { OpenedEnvelope } from './dsse/dsse-envelope.ts';
export { preAuthenticationEncoding } from './dsse/pre-authentication-encoding.ts';
export { keyIdOf, trustedKeyFrom, verifySignature } from './dsse/verify-signature.ts';
export type { TrustedKey } from './dsse/verify-signature.ts';
export { checkpointPayloadType, manifestPayloadType, openCheckpoint, openManifest, signCheckpoint, signManifest } from './checkpoint/checkpoint-envelope.ts';
export { keyDelegationPayloadType, openKeyDelegation, signKeyDelegation } from './checkpoint/key-delegation-envelope.ts';
export {
  isBatched,
  manifestBatchPayloadType,
  openStoredManifest,
  signManifests,
  storedManifestEnvelope,
  storedManifestPayload,
  storedManifestSignatures,
} from './checkpoint/manifest-batch.ts';
export type { SignManifestsOptions } from './checkpoint/manifest-batch.ts';
export type { OpenedKeyDelegation } from './checkpoint/key-delegation-envelope.ts';
export {
  openSignerRotatedEntry,
  readSignerRotation,
  signerRotatedData,
  signerRotationPayloadType,
  signSignerRotation,
} from './rotation/signer-rotation-envelope.ts';
export { auditEntryBytes, auditLeafHash } from './entries/audit-entry-leaf.ts';
export {
  completedArtifacts,
  dispatchedManifest,
  isTerminalRunEntry,
  modelCallArtifacts,
  modelCallData,
  modelCallUsage,
  submittedSpecDigest,
} from './entries/entry-data.ts';
export type { ModelCallUsage } from './entries/entry-data.ts';
export { addModelCallSpend, modelCallSpend, noModelCallSpend, spendOfModelCall, spentTokens } from './entries/model-call-spend.ts';
export { anchorEnvelopeBytes, anchorEnvelopeDigest, openReceipt, receiptPayloadType, signReceipt } from './anchor/signed-receipt.ts';
export type { TrustedAnchor } from './anchor/trusted-anchor.ts';
export { buildEvidenceBundle, readCheckpoint, serializeEvidenceBundle } from './bundle/build-evidence-bundle.ts';
export type { EvidenceBundleInput, MultiproofSource } from './bundle/build-evidence-bundle.ts';
export { verificationCheckNames, verifyBundle } from './bundle/verify-bundle.ts';
export type { VerifyBundleOptions } from './bundle/verify-bundle.ts';
export { bundleLimits } from './bundle/bundle-limits.ts';
export type { BundleLimits } from './bundle/bundle-limits.ts';
export { readBundleFile } from './bundle/read-bundle-file.ts';
export type { ReadBundleFileOptions } from './bundle/read-bundle-file.ts';
export type { AnchorCheckOptions } from './bundle/bundle-checks.ts';
export { auditEntryProblem } from './entries/audit-entry-problem.ts';
export { auditEntryText } from './entries/audit-entry-text.ts';
export { CompactRange } from './merkle/compact-range.ts';
export { matchesLogFilter } from './export/log-export-filter.ts';
export type { LogExportFilter } from './export/log-export-filter.ts';
export { exportLogNdjson, readLogNdjson } from './export/log-ndjson.ts';
export { verifyLog } from './export/verify-log.ts';
export type { LogVerification } from './export/verify-log.ts';
export { verifyAuditLog } from './export/verify-audit-log.ts';
export type { AuditLogFailure, AuditLogVerification, CheckpointVerification, LogCheckpoint, VerifyAuditLogOptions } from './export/verify-audit-log.ts';
export { verifyTimestampToken } from './timestamp/verify-timestamp-token.ts';
export type { VerifiedTimestamp } from './timestamp/verify-timestamp-token.ts';
export { readTimestampTokenInfo } from './timestamp/read-timestamp-token-info.ts';
export type { TimestampTokenInfo } from './timestamp/read-timestamp-token-info.ts';
export { verifyCheckpointConsistency } from './checkpoint/verify-checkpoint-consistency.ts';
export { rankCandidates } from './candidates/rank-candidates.ts';
export type { CandidateRanking, CheckedCandidate } from './candidates/rank-candidates.ts';
export { recordedCandidateOf } from './candidates/checked-candidate.ts';
export { maxJudgeReason, readJudgeAnswer } from './candidates/judge-answer.ts';
export type { JudgeAnswer } from './candidates/judge-answer.ts';
export type { RecordedCandidate, RecordedCheck } from './candidates/checked-candidate.ts';
export type { CheckpointLink } from './checkpoint/verify-checkpoint-consistency.ts';
export { findPatchAttempt, patchProvenanceStatement } from './provenance/patch-provenance.ts';
export type { PatchAttempt, ProvenanceBuilder } from './provenance/patch-provenance.ts';
export {
  cairnItemAttemptBuildType,
  inTotoPayloadType,
  inTotoStatementType,
  provenanceStatementSchema,
  slsaProvenancePredicateType,
} from './provenance/provenance-statement.ts';
export type { ProvenanceDependency, ProvenanceModelCall, ProvenanceStatement } from './provenance/provenance-statement.ts';
export { sigstoreBundleMediaType, sigstoreBundleSchema } from './provenance/sigstore-bundle.ts';
export type { SigstoreBundle } from './provenance/sigstore-bundle.ts';
export { serializeProvenanceBundle, signProvenance } from './provenance/sign-provenance.ts';
export { verifyProvenance } from './provenance/verify-provenance.ts';
export type { ProvenanceCheck, ProvenanceCheckName, ProvenanceVerification, VerifyProvenanceOptions } from './provenance/verify-provenance.ts';
export const VERSION = '0.1.0';
