import type { Digest, StorageProviderV1 } from '@cairn/core';
import { digestNamedByKey, isDigest, manifestKey, storedManifestSchema } from '@cairn/protocol';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { HttpApp } from '../../http/http-app.ts';
import { decideRunnerStorageAccess, type RunnerHeldAttempts, type RunnerStorageAccess, type RunnerStorageOperation } from './runner-storage-access.ts';
import { registerRunnerStorageTransport, type RunnerStorageGate, type RunnerStorageRefusal } from './runner-storage-transport.ts';

/**
 * What the lease book (the `runners` executor) tells the storage routes about a runner's
 * attempts. Every question is asked per request: a lease that lapses closes its keys at once.
 */
export interface RunnerLeases {
  /** Whether `runnerName` holds a live lease on `executionId` now. */
  holds(runnerName: string, executionId: string): boolean;
  /** The execution ids `runnerName` holds a live lease on now: a manifest or blob key names no execution, so the routes look through these. */
  heldBy(runnerName: string): Iterable<string>;
  /** Whether `executionId` was leased to `runnerName` and its lease lapsed (revoked): a write for it is a late result. */
  lapsed(runnerName: string, executionId: string): boolean;
  /** The digest of the execution's dispatch manifest, when the book knows it. */
  manifestDigestOf(executionId: string): Digest | undefined;
  /** Told of the result record `runnerName` stored for `executionId` through these routes: the book may carry it with the exit (ADR 0060). */
  resultStored?(runnerName: string, executionId: string, bytes: Uint8Array): void;
}

export interface RunnerStorageRoutesSettings {
  /** The engine's storage. */
  readonly storage: StorageProviderV1;
  readonly leases: RunnerLeases;
  /** The name of the runner the request's token belongs to; throws for a request without a runner's token. */
  readonly authorize: (request: FastifyRequest) => Promise<string> | string;
  /** Told of each write or delete refused because its attempt's lease lapsed (audit it as `runner.late-result`). */
  readonly onRefused?: (refusal: RunnerStorageRefusal) => Promise<void> | void;
  /** Largest blob a runner may put; `server.uploadLimitMiB` by default. */
  readonly uploadLimitBytes?: number;
}

/**
 * A runner's storage through the server (ADR 0050): the routes of `registerRunnerStorageTransport`
 * (`/v1/runner/storage/<key>`), each request allowed by `decideRunnerStorageAccess` over the
 * attempts the runner holds in `leases`. The manifests of held attempts are read from storage once
 * (by digest: they never change) for what they name; the blobs a runner writes are remembered
 * for the attempts it held then, so it may read them back while it holds them.
 */
export function registerRunnerStorageRoutes(app: HttpApp, settings: RunnerStorageRoutesSettings): void {
  registerRunnerStorageTransport(app, {
    storage: settings.storage,
    authorize: settings.authorize,
    gate: new LeasedStorageGate(settings.storage, settings.leases),
    ...(settings.onRefused === undefined ? {} : { onRefused: settings.onRefused }),
    ...(settings.uploadLimitBytes === undefined ? {} : { uploadLimitBytes: settings.uploadLimitBytes }),
  });
}

/** What a manifest names that its attempt may read. */
interface ManifestNames {
  readonly executionId: string;
  readonly blobs: ReadonlySet<Digest>;
  readonly signers: ReadonlySet<string>;
}

/** Manifests kept, by digest; the oldest read is dropped past this (a manifest is a few KiB to read again). */
const keptManifests = 4_096;
/** Blobs remembered per held attempt as written by its runner (a worker writes a handful). */
const keptWrittenBlobs = 4_096;

const manifestPayloadSchema = z.object({
  executionId: z.string(),
  workspace: z.string(),
  inputs: z.record(z.string(), z.object({ digest: z.string() })),
});

class LeasedStorageGate implements RunnerStorageGate {
  readonly #storage: StorageProviderV1;
  readonly #leases: RunnerLeases;
  readonly #manifests = new Map<Digest, Promise<ManifestNames | undefined>>();
  /** Per runner, per execution it held when it wrote them: the blobs it wrote. */
  readonly #written = new Map<string, Map<string, Set<Digest>>>();

  constructor(storage: StorageProviderV1, leases: RunnerLeases) {
    this.#storage = storage;
    this.#leases = leases;
  }

  async decide(runnerName: string, key: string, operation: RunnerStorageOperation): Promise<RunnerStorageAccess> {
    const held = [...this.#leases.heldBy(runnerName)];
    // Only a blob or delegation read needs what the held attempts' manifests name.
    const needsManifests = operation === 'read' && (key.startsWith('blobs/') || key.startsWith('delegations/'));
    const names = new Map<string, ManifestNames>();
    if (needsManifests) {
      await Promise.all(
        held.map(async (executionId) => {
          const digest = this.#leases.manifestDigestOf(executionId);
          const read = digest === undefined ? undefined : await this.#namesOf(digest);
          // A manifest for another execution names nothing for this one.
          if (read?.executionId === executionId) names.set(executionId, read);
        }),
      );
    }
    const written = this.#written.get(runnerName);
    const attempts: RunnerHeldAttempts = {
      held: () => held,
      holds: (executionId) => this.#leases.holds(runnerName, executionId),
      lapsed: (executionId) => this.#leases.lapsed(runnerName, executionId),
      manifestDigestOf: (executionId) => this.#leases.manifestDigestOf(executionId),
      blobsNamedFor: (executionId) => {
        const named = names.get(executionId)?.blobs;
        const own = written?.get(executionId);
        if (named === undefined) return own;
        return own === undefined ? named : new Set([...named, ...own]);
      },
      signersFor: (executionId) => names.get(executionId)?.signers,
    };
    return decideRunnerStorageAccess({ key, operation }, attempts);
  }

  wroteResult(runnerName: string, executionId: string, bytes: Uint8Array): void {
    this.#leases.resultStored?.(runnerName, executionId, bytes);
  }

  wrote(runnerName: string, key: string): void {
    const digest = digestNamedByKey(key);
    if (digest === undefined) return;
    let byExecution = this.#written.get(runnerName);
    if (byExecution === undefined) this.#written.set(runnerName, (byExecution = new Map()));
    const held = new Set(this.#leases.heldBy(runnerName));
    // What the runner no longer holds it may no longer read: forgotten here.
    for (const executionId of byExecution.keys()) if (!held.has(executionId)) byExecution.delete(executionId);
    for (const executionId of held) {
      let blobs = byExecution.get(executionId);
      if (blobs === undefined) byExecution.set(executionId, (blobs = new Set()));
      blobs.add(digest);
      if (blobs.size > keptWrittenBlobs) blobs.delete(blobs.values().next().value!);
    }
    if (byExecution.size === 0) this.#written.delete(runnerName);
  }

  #namesOf(digest: Digest): Promise<ManifestNames | undefined> {
    const kept = this.#manifests.get(digest);
    if (kept !== undefined) return kept;
    const reading = this.#readManifest(digest).then(
      (names) => {
        // A manifest not stored (yet) is looked for again next time.
        if (names === undefined) this.#manifests.delete(digest);
        return names;
      },
      (error: unknown) => {
        this.#manifests.delete(digest);
        throw error;
      },
    );
    this.#manifests.set(digest, reading);
    if (this.#manifests.size > keptManifests) this.#manifests.delete(this.#manifests.keys().next().value!);
    return reading;
  }

  /**
   * What the stored manifest names, read without verifying its signature: its bytes hash to the
   * digest the engine chose (storage checks a content-addressed key on read), and the worker
   * verifies the signature before it runs anything. Undefined for a manifest missing or unreadable.
   */
  async #readManifest(digest: Digest): Promise<ManifestNames | undefined> {
    const bytes = await this.#storage.get(manifestKey(digest));
    if (bytes === null) return undefined;
    let stored;
    try {
      stored = storedManifestSchema.safeParse(JSON.parse(new TextDecoder().decode(bytes)));
    } catch {
      return undefined;
    }
    if (!stored.success) return undefined;
    const envelope = 'batch' in stored.data ? stored.data.batch : stored.data;
    const payloadBase64 = 'batch' in stored.data ? stored.data.manifest : stored.data.payload;
    let payload;
    try {
      payload = manifestPayloadSchema.safeParse(JSON.parse(Buffer.from(payloadBase64, 'base64').toString('utf8')));
    } catch {
      return undefined;
    }
    if (!payload.success) return undefined;
    const blobs = [payload.data.workspace, ...Object.values(payload.data.inputs).map((input) => input.digest)].filter((named) => isDigest(named));
    return {
      executionId: payload.data.executionId,
      blobs: new Set(blobs),
      signers: new Set(envelope.signatures.map((signature) => signature.keyid)),
    };
  }
}
