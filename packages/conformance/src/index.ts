export const VERSION = '0.1.0';

export type { ConformanceCase, ConformanceCaseContext, ConformanceCaseNeeds } from './harness/conformance-case.ts';
export type { SuiteContext, SuiteOptions } from './harness/suite-options.ts';
export { runConformanceCase } from './harness/run-conformance-case.ts';

export { describeStorageProvider } from './storage-provider/describe-storage-provider.ts';
export { storageProviderCases, type StorageProviderCase } from './storage-provider/storage-provider-cases.ts';
export type { StorageProviderOracle } from './storage-provider/storage-provider-oracle.ts';
export type { StorageProviderSuiteOptions } from './storage-provider/storage-provider-suite-options.ts';

export { describeExecutor } from './executor/describe-executor.ts';
export { executorCases, type ExecutorCase } from './executor/executor-cases.ts';
export type { ExecutorOracle } from './executor/executor-oracle.ts';
export type { ExecutorSuiteOptions } from './executor/executor-suite-options.ts';
export type { ExecutorTaskBehaviour } from './executor/executor-task-behaviour.ts';

export { describeAuditAnchor } from './audit-anchor/describe-audit-anchor.ts';
export { auditAnchorCases, type AuditAnchorCase } from './audit-anchor/audit-anchor-cases.ts';
export type { AuditAnchorOracle } from './audit-anchor/audit-anchor-oracle.ts';
export type { AuditAnchorSuiteOptions } from './audit-anchor/audit-anchor-suite-options.ts';

export { describeForge } from './forge/describe-forge.ts';
export { forgeCases, type ForgeCase } from './forge/forge-cases.ts';
export type { ForgeOracle } from './forge/forge-oracle.ts';
export type { ForgeSuiteOptions } from './forge/forge-suite-options.ts';

export { describeSigner } from './signer/describe-signer.ts';
export { signerCases, type SignerCase } from './signer/signer-cases.ts';
export type { SignerOracle } from './signer/signer-oracle.ts';
export type { SignerSuiteOptions } from './signer/signer-suite-options.ts';

export { describeCipher } from './cipher/describe-cipher.ts';
export { cipherCases, type CipherCase } from './cipher/cipher-cases.ts';
export type { CipherSuiteOptions } from './cipher/cipher-suite-options.ts';

export { describeAuthorizer } from './authorizer/describe-authorizer.ts';
export { authorizerCases, type AuthorizerCase } from './authorizer/authorizer-cases.ts';
export type { AuthorizationQuestion, AuthorizerFixture, AuthorizerSuiteOptions } from './authorizer/authorizer-suite-options.ts';

export { describeRuntimeAdapter } from './runtime-adapter/describe-runtime-adapter.ts';
export { runtimeAdapterCases, type RuntimeAdapterCase } from './runtime-adapter/runtime-adapter-cases.ts';
export type { RuntimeAdapterScenario } from './runtime-adapter/runtime-adapter-scenario.ts';
export type { RuntimeAdapterSuiteOptions } from './runtime-adapter/runtime-adapter-suite-options.ts';
