import type { DsseEnvelope } from './checkpoint.ts';
import type { Digest } from './digest.ts';
import type { EnvironmentSpec, ItemEffect, NeedSelection, NetworkCredentialSpec, RuntimeSpec } from './run-spec.ts';

/** One resolved input of an attempt: an upstream artifact, pinned by digest. */
export interface ManifestInput {
  readonly from: string;
  readonly select: NeedSelection;
  readonly digest: Digest;
  /** Only this part of the JSON the digest names (`$.tests[3]`): the worker delivers it, as JSON. */
  readonly path?: string;
}

/**
 * An allow-listed network as the proxy enforces it (ADR 0049): the item's entries, the server's
 * deny entries (a deny wins), and the credentials the proxy brokers.
 */
export interface ManifestNetworkAllowList {
  readonly allow: readonly string[];
  readonly deny: readonly string[];
  readonly credentials: readonly NetworkCredentialSpec[];
}

/** Limits the worker and sandbox enforce. */
export interface ManifestLimits {
  /** Wall-clock limit of the runtime, in milliseconds. */
  readonly timeoutMs: number;
  /** The sandbox's network: none (`false`), unrestricted (`true`), or only what its egress proxy admits. */
  readonly network: boolean | ManifestNetworkAllowList;
  /** Largest patch the worker accepts, in bytes. */
  readonly maxPatchBytes: number;
  /** Largest stdout/stderr kept, in bytes each; more is cut with a truncation marker. */
  readonly maxLogBytes: number;
  /**
   * How the executor isolates the task, as it declares (`bubblewrap`, `container`, `none`): signed
   * into the manifest so the evidence says when a task ran without a sandbox.
   */
  readonly isolation?: string;
  /** `posix` when the item waived the portable path rules (`pathRules: posix`); absent means portable. */
  readonly pathRules?: 'posix';
  /** The item's `stallTimeout`: no model call and no output for this long ends the attempt. */
  readonly stallTimeoutMs?: number;
}

/**
 * Everything one attempt needs, fixed at dispatch: canonical JSON, signed as a DSSE envelope
 * (payloadType `application/vnd.cairn.manifest+json`) and stored by the envelope's digest. The
 * worker verifies signature and digests before it runs anything. Holds secret *names* only.
 */
export interface DispatchManifest {
  readonly version: 'cairn.manifest/v1';
  readonly runId: string;
  readonly itemId: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** Increases with every attempt of the item; a result must carry the current token. */
  readonly fencingToken: number;
  readonly executionId: string;
  readonly runtime: RuntimeSpec;
  /** Digest of the workspace snapshot the task starts from. */
  readonly workspace: Digest;
  readonly inputs: Readonly<Record<string, ManifestInput>>;
  /** Names of `inputs` whose patches are applied, in order, before the runtime starts. */
  readonly apply: readonly string[];
  /** Plain environment variables. */
  readonly env: Readonly<Record<string, string>>;
  /** Names of the secrets handed out of band (values never appear here). */
  readonly secretNames: readonly string[];
  readonly limits: ManifestLimits;
  readonly effect: ItemEffect;
  /** ISO 8601 time the engine issued the manifest. */
  readonly issuedAt: string;
  /** The attempt is a candidate of a best-of-N round (ADR 0053): the worker checks its patch. */
  readonly candidate?: ManifestCandidate;
  /** The item's warm environment (ADR 0056): a setup run once per host and key, laid under the workspace. */
  readonly environment?: EnvironmentSpec;
}

/** Which candidate of which round an attempt is, and the check its patch is run through (ADR 0053). */
export interface ManifestCandidate {
  /** From 1: candidate k ran the item's `vary[k-1]`. */
  readonly index: number;
  /** The round's size (`candidates.count`). */
  readonly of: number;
  /** From 1; a retry is the next round. */
  readonly round: number;
  /** Run in a sandbox of its own over a workspace with the candidate's patch applied. */
  readonly check: { readonly argv: readonly string[]; readonly timeoutMs: number };
}

/**
 * What a dispatch pass signs once for all its manifests (ADR 0026): the RFC 6962 tree hash of
 * their leaves, SHA-256(0x00 ‖ manifest canonical JSON), in the pass's order. Signed as the
 * canonical JSON payload of a DSSE envelope (payloadType `application/vnd.cairn.manifest-batch+json`).
 */
export interface ManifestBatch {
  readonly version: 'cairn.manifest-batch/v1';
  /** How many manifests the pass signed (at least 2). */
  readonly size: number;
  /** The tree hash, base64. */
  readonly root: string;
}

/**
 * One manifest of a batch as stored (ADR 0026): the batch's signed envelope, where the manifest
 * sits in it, its canonical JSON, and the inclusion proof from its leaf to the batch's root.
 */
export interface BatchedManifest {
  /** A DSSE envelope of a ManifestBatch. */
  readonly batch: DsseEnvelope;
  /** The manifest's leaf, from 0. */
  readonly index: number;
  /** Base64 of the manifest's canonical JSON. */
  readonly manifest: string;
  /** RFC 6962 inclusion proof of the leaf, base64 hashes, deepest first. */
  readonly proof: readonly string[];
}

/** A dispatch manifest as stored at `manifests/<digest>.json`: signed alone, or with its pass. */
export type StoredManifest = DsseEnvelope | BatchedManifest;
