export {
  createInMemoryStorageProvider,
  InMemoryStorageProvider,
  type InMemoryStorageBackend,
  type InMemoryStorageProviderSettings,
} from './in-memory-storage-provider.ts';
export {
  createInMemoryExecutor,
  InMemoryExecutor,
  type InMemoryExecution,
  type InMemoryExecutorRegistry,
  type InMemoryExecutorSettings,
  type InMemoryTask,
} from './in-memory-executor.ts';
export { createInMemoryAuditAnchor, InMemoryAuditAnchor, type InMemoryAuditAnchorBackend, type InMemoryAuditAnchorSettings } from './in-memory-audit-anchor.ts';
export { createInMemoryForge, InMemoryForge, type InMemoryForgeBackend, type InMemoryForgeCommit, type InMemoryForgeSettings } from './in-memory-forge.ts';
export { createInMemorySigner, InMemorySigner, type InMemorySignerSettings } from './in-memory-signer.ts';
export { createInMemoryCipher, InMemoryCipher, type InMemoryCipherSettings } from './in-memory-cipher.ts';
export { createInMemoryAuthorizer, InMemoryAuthorizer, type InMemoryAuthorizerSettings, type InMemoryAuthorizerToken } from './in-memory-authorizer.ts';
export {
  createInMemoryRuntimeAdapter,
  InMemoryRuntimeAdapter,
  inMemoryRuntimeAdapterName,
  inMemoryScenarioSpec,
  inMemoryRuntimeSpec,
  readInMemoryScript,
  type InMemoryRuntimeAdapterSettings,
  type InMemoryRuntimeStep,
} from './in-memory-runtime-adapter.ts';
