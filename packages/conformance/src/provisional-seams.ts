// TEMPORARY: stands in for @cairn/core's seams until they land; deleted when aligning.
export interface StorageObjectMetadata { readonly key: string; readonly size: number; readonly contentType?: string }
export interface StoragePutOptions { readonly ifAbsent?: boolean; readonly contentType?: string }
export interface StoragePutResult { readonly written: boolean }
export interface StorageListOptions { readonly prefix?: string; readonly limit?: number; readonly cursor?: string }
export interface StorageListPage { readonly keys: readonly string[]; readonly cursor: string | null }
export interface StorageProviderCapabilities { readonly ifAbsent: true }
export interface StorageProviderV1 {
  readonly specificationVersion: 'v1';
  readonly provider: string;
  readonly capabilities: StorageProviderCapabilities;
  put(key: string, body: Uint8Array, options?: StoragePutOptions): Promise<StoragePutResult>;
  get(key: string): Promise<Uint8Array | null>;
  head(key: string): Promise<StorageObjectMetadata | null>;
  list(options?: StorageListOptions): Promise<StorageListPage>;
  delete(key: string): Promise<void>;
}

export interface ExecutorStartRequest { readonly executionId: string; readonly manifestDigest: string; readonly env?: Readonly<Record<string, string>> }
export interface ExecutorHandle { readonly executor: string; readonly executionId: string; readonly [key: string]: unknown }
export type ExecutorState = 'pending' | 'running' | 'exited' | 'unknown';
export type ExecutorOutcome = 'succeeded' | 'failed' | 'cancelled';
export interface ExecutorStatus { readonly state: ExecutorState; readonly outcome?: ExecutorOutcome; readonly exitCode?: number }
export interface ExecutorCapabilities { readonly cancel: boolean }
export interface ExecutorV1 {
  readonly specificationVersion: 'v1';
  readonly provider: string;
  readonly capabilities: ExecutorCapabilities;
  start(request: ExecutorStartRequest): Promise<ExecutorHandle>;
  inspect(handle: ExecutorHandle): Promise<ExecutorStatus>;
  cancel(handle: ExecutorHandle): Promise<void>;
}

export type AnchorGuarantee = 'detect' | 'external-immutable';
export interface AnchorCheckpointReference { readonly origin: string; readonly size: number; readonly rootHash: string }
export interface AnchorCheckpoint extends AnchorCheckpointReference { readonly envelope: Uint8Array }
export interface AnchorReceipt { readonly anchor: string; readonly guarantee: AnchorGuarantee; readonly location: string; readonly anchoredAt: string }
export interface AnchoredCheckpoint { readonly envelope: Uint8Array; readonly receipt: AnchorReceipt }
export interface AuditAnchorV1 {
  readonly specificationVersion: 'v1';
  readonly provider: string;
  readonly guarantee: AnchorGuarantee;
  anchor(checkpoint: AnchorCheckpoint): Promise<AnchorReceipt>;
  read(reference: AnchorCheckpointReference): Promise<AnchoredCheckpoint | null>;
}

export type SignatureAlgorithm = 'ed25519' | 'ecdsa-p256-sha256';
export interface SignerV1 {
  readonly specificationVersion: 'v1';
  readonly provider: string;
  readonly algorithm: SignatureAlgorithm;
  keyId(): Promise<string>;
  publicKey(): Promise<Uint8Array>;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

export type CipherContext = Readonly<Record<string, string>>;
export interface CipherEnvelope { readonly version: 1; readonly algorithm: string; readonly keyId: string; readonly iv: string; readonly ciphertext: string; readonly tag: string }
export interface CipherV1 {
  readonly specificationVersion: 'v1';
  readonly provider: string;
  encrypt(plaintext: Uint8Array, context: CipherContext): Promise<CipherEnvelope>;
  decrypt(envelope: CipherEnvelope, context: CipherContext): Promise<Uint8Array>;
}

export interface Actor { readonly kind: 'user' | 'token' | 'system'; readonly id: string }
export interface AuthenticatedPrincipal { readonly actor: Actor; readonly scopes: readonly string[] }
export interface AuthorizationDecision { readonly allowed: boolean; readonly reason: string }
export interface AuthorizerV1 {
  readonly specificationVersion: 'v1';
  readonly provider: string;
  authenticate(credential: string): Promise<AuthenticatedPrincipal | null>;
  authorize(principal: AuthenticatedPrincipal, action: string, resource: { readonly kind: string; readonly id: string }): Promise<AuthorizationDecision>;
}

export interface RuntimeSinks { stdout(chunk: Uint8Array): void; stderr(chunk: Uint8Array): void }
export interface RuntimeInvocation { readonly workspace: string; readonly spec: unknown; readonly env: Readonly<Record<string, string>>; readonly signal: AbortSignal; readonly sinks: RuntimeSinks }
export interface RuntimeResult { readonly exitCode: number | null; readonly signal?: string; readonly aborted: boolean }
export interface RuntimeAdapterV1 {
  readonly specificationVersion: 'v1';
  readonly kind: string;
  run(invocation: RuntimeInvocation): Promise<RuntimeResult>;
}
