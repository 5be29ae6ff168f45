import {
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { AnchorCheckpoint, AnchoredCheckpoint, AnchorReceipt, AuditAnchorV1, CheckpointReference } from '@cairn/core';
import { assertAnchorCheckpoint, CairnError, isCairnError, isTimestamp, parseSettings, PerKeyQueue, sha256Digest } from '@cairn/protocol';
import { z } from 'zod';
import { describeS3Location, s3ClientFor, s3LocationSettingsShape } from '../client/s3-connection.ts';
import { s3Failure } from '../client/s3-errors.ts';
import { withS3Retries } from '../client/s3-retries.ts';
import { anchorObjectKey } from './anchor-object-key.ts';
import { decodeOrUndefined } from './decode-or-undefined.ts';
import { parseReceiptLocation, receiptLocation } from './receipt-location.ts';
import { s3AnchorTampered } from './s3-anchor-errors.ts';

/** Settings of `createS3ObjectLockAnchor`, checked at construction; errors name `s3.anchor.<option>`. */
export const s3ObjectLockAnchorSettingsSchema = z.strictObject({
  ...s3LocationSettingsShape,
  /**
   * Days each checkpoint stays locked in COMPLIANCE mode: until then nobody, the bucket's owner and
   * the account's root included, can delete it or shorten its lock. Verification with `--online`
   * relies on it only within this window; storage is paid for all of it.
   */
  retentionDays: z.int().min(1).max(36_500),
});

export type S3ObjectLockAnchorSettings = z.input<typeof s3ObjectLockAnchorSettingsSchema>;
type ParsedSettings = z.output<typeof s3ObjectLockAnchorSettingsSchema>;

/** What `probe` found: the bucket can hold locked checkpoints. */
export interface S3ObjectLockAnchorProbe {
  /** `s3://bucket/prefix` (and the endpoint when set). */
  readonly location: string;
  readonly objectLock: 'Enabled';
  readonly versioning: 'Enabled';
  /** The lock each checkpoint is written with (COMPLIANCE, this many days). */
  readonly retentionDays: number;
  /** The bucket's default retention rule, when it has one (Cairn sets its own on every object). */
  readonly defaultRetention?: { readonly mode: string; readonly days?: number; readonly years?: number };
}

/** The media type of what is stored: a DSSE envelope (JSON). */
const envelopeContentType = 'application/vnd.dsse.envelope.v1+json';
/** Checkpoint envelopes are a few kilobytes; a version larger than this was not written by an anchor. */
const maximumEnvelopeBytes = 1024 * 1024;
/** A tree head's key holds one version, a few after racing retries; thousands are an attack on the reader. */
const maximumVersions = 1000;

/**
 * What the anchor records on every version it writes, as object metadata (`x-amz-meta-cairn-*`):
 * set with the version and, the version being locked, immutable with it. `read` rebuilds the
 * receipt from it, so the receipt read back equals the one issued.
 */
const metadataKeys = {
  origin: 'cairn-origin',
  treeSize: 'cairn-tree-size',
  rootHash: 'cairn-root-hash',
  envelopeDigest: 'cairn-envelope-digest',
  anchoredAt: 'cairn-anchored-at',
  retainUntil: 'cairn-retain-until',
} as const;

/** One version of a tree head's key, fetched by its version id and checked. */
interface StoredVersion {
  readonly versionId: string;
  readonly envelope: Uint8Array;
  readonly rootHash: string;
  readonly envelopeDigest: string;
  readonly anchoredAt: string;
  readonly retainUntil: string;
}

/**
 * AuditAnchorV1 on an S3 bucket with Object Lock, guarantee `external-immutable`: each checkpoint
 * envelope is written as a new object version locked in COMPLIANCE mode for `retentionDays`, which
 * nobody can delete or shorten before it ends (S3 refuses with 403).
 *
 * What Object Lock does not stop is a NEWER version under the same key: anyone with PutObject can
 * add one, and in a versioned bucket some servers (radosgw) ignore `If-None-Match: *`. So the key
 * is not the claim, and neither "the latest version" nor "the earliest by time" is the anchored
 * one (ADR 0017):
 * - one key per tree head (`<prefix><origin>/<tree size>.dsse`), so every version ever written for
 *   it is listed by one ListObjectVersions;
 * - the receipt names the version id; `read` lists ALL versions of the key and fetches each by
 *   version id: every one must be COMPLIANCE-locked and carry the anchor's record of the same tree
 *   head, else CAIRN_ANCHOR_TAMPERED naming the versions (a forgery is detected, never read);
 * - with the bundle's receipt, its version id must be one of them, with its digest and a live
 *   retain-until not earlier than the receipt's; without one, the anchored version is the oldest
 *   in the server's version order (which is not a timestamp, so a same-second race has one answer).
 *
 * `anchor` lists first (the same tree head → the anchored receipt, idempotent; another root →
 * CAIRN_ANCHOR_CONFLICT), then puts with `If-None-Match: *` (a true conditional create where the
 * server honours it), and lists again to settle a race with another process.
 */
export class S3ObjectLockAnchor implements AuditAnchorV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 's3-object-lock';
  readonly guarantee = 'external-immutable';
  /** How verifier reports name it: `s3-object-lock:s3://bucket/prefix`. */
  readonly name: string;
  readonly settings: Readonly<Omit<ParsedSettings, 'client'>>;
  readonly #client: S3Client;
  readonly #location: string;
  /** Anchorings of one tree head in this process, one after another (no self-inflicted races). */
  readonly #inFlight = new PerKeyQueue();

  constructor(settings: S3ObjectLockAnchorSettings) {
    const parsed = parseSettings(s3ObjectLockAnchorSettingsSchema, settings, 's3.anchor');
    const { client: _client, ...rest } = parsed;
    this.settings = rest;
    this.#client = s3ClientFor(parsed);
    this.#location = describeS3Location(parsed);
    this.name = `${this.provider}:s3://${parsed.bucket}/${parsed.prefix}`;
  }

  /**
   * Checks that the bucket can hold locked checkpoints: Object Lock enabled (hence versioning).
   * Throws CAIRN_CONFIG_INVALID naming `s3.anchor.bucket` when it cannot, and
   * CAIRN_ANCHOR_UNAVAILABLE when S3 cannot be asked.
   */
  async probe(): Promise<S3ObjectLockAnchorProbe> {
    const { bucket } = this.settings;
    let configuration;
    try {
      configuration = (
        await this.#attempt('read the Object Lock configuration of the bucket', () =>
          this.#client.send(new GetObjectLockConfigurationCommand({ Bucket: bucket })),
        )
      ).ObjectLockConfiguration;
    } catch (error) {
      // 404 ObjectLockConfigurationNotFoundError (AWS and radosgw): the bucket exists, without Object Lock.
      const missing = isCairnError(error, 'CAIRN_ANCHOR_UNAVAILABLE') && httpStatus(error.cause) === 404 && s3ErrorName(error.cause) !== 'NoSuchBucket';
      if (!missing) throw error;
      configuration = undefined;
    }
    if (configuration?.ObjectLockEnabled !== 'Enabled') throw this.#notLockable('has no Object Lock');
    const versioning = await this.#attempt('read the versioning of the bucket', () => this.#client.send(new GetBucketVersioningCommand({ Bucket: bucket })));
    if (versioning.Status !== 'Enabled') throw this.#notLockable(`has Object Lock but versioning is ${versioning.Status ?? 'off'}`);
    const rule = configuration.Rule?.DefaultRetention;
    return {
      location: this.#location,
      objectLock: 'Enabled',
      versioning: 'Enabled',
      retentionDays: this.settings.retentionDays,
      ...(rule?.Mode ? { defaultRetention: { mode: rule.Mode, ...(rule.Days ? { days: rule.Days } : {}), ...(rule.Years ? { years: rule.Years } : {}) } } : {}),
    };
  }

  async anchor(checkpoint: AnchorCheckpoint): Promise<AnchorReceipt> {
    assertAnchorCheckpoint(checkpoint, 's3', maximumEnvelopeBytes);
    const envelope = Uint8Array.from(checkpoint.envelope);
    return this.#inFlight.run(`${checkpoint.origin}\u0000${checkpoint.treeSize}`, () => this.#anchor(checkpoint, envelope));
  }

  async read(reference: CheckpointReference, receipt?: AnchorReceipt): Promise<AnchoredCheckpoint | null> {
    const key = anchorObjectKey(this.settings.prefix, reference.origin, reference.treeSize);
    const where = this.#objectLocation(key);
    if (receipt !== undefined) this.#assertReceiptFor(receipt, reference, key);
    const versions = await this.#versions(key, reference);
    if (versions.length === 0) {
      if (receipt !== undefined)
        throw s3AnchorTampered(
          reference.origin,
          reference.treeSize,
          where,
          `the key holds no version at all, but the receipt names ${receipt.location}: the anchored version is gone`,
        );
      return null;
    }
    assertOneTreeHead(versions, reference, where);
    const anchored = receipt === undefined ? versions.at(-1)! : this.#versionOfReceipt(versions, receipt, reference, where);
    if (anchored.rootHash !== reference.rootHash) return null;
    return { envelope: anchored.envelope, receipt: this.#receiptOf(reference, key, anchored) };
  }

  /** Whether `receipt` was issued by an anchor of this kind for an object inside this bucket and prefix. */
  isOwnReceipt(receipt: AnchorReceipt): boolean {
    if (receipt.anchor !== this.provider) return false;
    const named = parseReceiptLocation(receipt.location);
    return named !== undefined && named.bucket === this.settings.bucket && named.key.startsWith(this.settings.prefix);
  }

  async #anchor(checkpoint: AnchorCheckpoint, envelope: Uint8Array): Promise<AnchorReceipt> {
    const key = anchorObjectKey(this.settings.prefix, checkpoint.origin, checkpoint.treeSize);
    const existing = await this.#versions(key, checkpoint);
    if (existing.length > 0) return this.#settle(existing, checkpoint, key);
    const anchoredAt = new Date();
    // Whole seconds: S3 keeps the lock's date at that precision on some servers, and the receipt must equal what reads back.
    const retainUntil = new Date(Math.ceil((anchoredAt.getTime() + this.settings.retentionDays * 86_400_000) / 1000) * 1000);
    const metadata: Record<string, string> = {
      [metadataKeys.origin]: encodeURIComponent(checkpoint.origin),
      [metadataKeys.treeSize]: String(checkpoint.treeSize),
      [metadataKeys.rootHash]: checkpoint.rootHash,
      [metadataKeys.envelopeDigest]: sha256Digest(envelope),
      [metadataKeys.anchoredAt]: anchoredAt.toISOString(),
      [metadataKeys.retainUntil]: retainUntil.toISOString(),
    };
    let written;
    try {
      written = await this.#attempt(`put ${key}`, () =>
        this.#client.send(
          new PutObjectCommand({
            Bucket: this.settings.bucket,
            Key: key,
            Body: envelope,
            ContentType: envelopeContentType,
            Metadata: metadata,
            ObjectLockMode: 'COMPLIANCE',
            ObjectLockRetainUntilDate: retainUntil,
            // A real conditional create where the server honours it in a versioned bucket (AWS);
            // radosgw adds a version instead, and the listing below settles the race.
            IfNoneMatch: '*',
          }),
        ),
      );
    } catch (error) {
      const status = isCairnError(error, 'CAIRN_ANCHOR_UNAVAILABLE') ? httpStatus(error.cause) : undefined;
      // A locked write into a bucket without Object Lock is refused with 400: say that, not "unavailable".
      if (status === 400) await this.probe();
      if (status !== 412) throw error;
      written = undefined;
    }
    if (written !== undefined && !written.VersionId) throw this.#notLockable('answered the write without a version id (it is not versioned)');
    return this.#settle(await this.#versions(key, checkpoint), checkpoint, key);
  }

  /**
   * The receipt for `checkpoint` given every version its key holds: the anchored (oldest) version's
   * when all hold its tree head; CAIRN_ANCHOR_CONFLICT when another root is anchored, or when the
   * versions disagree (two processes anchored different roots at once: both are locked now, and a
   * verifier reading this key will report CAIRN_ANCHOR_TAMPERED, which is the truth).
   */
  #settle(versions: readonly StoredVersion[], checkpoint: AnchorCheckpoint, key: string): AnchorReceipt {
    const where = this.#objectLocation(key);
    const anchored = versions.at(-1)!;
    const roots = new Set(versions.map((version) => version.rootHash));
    if (roots.size === 1 && anchored.rootHash === checkpoint.rootHash) return this.#receiptOf(checkpoint, key, anchored);
    const found = describeVersions(versions);
    throw new CairnError(
      'CAIRN_ANCHOR_CONFLICT',
      roots.size === 1
        ? `[cairn] [s3] "${checkpoint.origin}" already has a checkpoint anchored at tree size ${checkpoint.treeSize} with root ${anchored.rootHash} (${where}, version ${anchored.versionId}); refusing root ${checkpoint.rootHash}. Two different logs claim one history: treat the log as compromised and investigate; anchored checkpoints are never overwritten.`
        : `[cairn] [s3] ${where} holds versions of different roots for "${checkpoint.origin}" at tree size ${checkpoint.treeSize} (${found}): two writers anchored different roots at once, or one was forged; all are locked, and verifiers reading this key will report it. Treat the log as compromised and investigate.`,
      {
        path: where,
        details: {
          origin: checkpoint.origin,
          treeSize: checkpoint.treeSize,
          anchoredRoot: anchored.rootHash,
          refusedRoot: checkpoint.rootHash,
          versions: found,
        },
      },
    );
  }

  /**
   * Every version of `key`, newest first as the server orders them, each fetched by version id and
   * checked (locked in COMPLIANCE, the anchor's record of this tree head, bytes matching it, the
   * lock not shorter than recorded); any that fails is CAIRN_ANCHOR_TAMPERED naming it. Delete
   * markers are skipped: they hide nothing from a read by version id.
   */
  async #versions(key: string, reference: Pick<CheckpointReference, 'origin' | 'treeSize'>): Promise<StoredVersion[]> {
    const where = this.#objectLocation(key);
    const listed: string[] = [];
    let keyMarker: string | undefined;
    let versionIdMarker: string | undefined;
    for (;;) {
      const page = await this.#attempt(`list the versions of ${key}`, () =>
        this.#client.send(
          new ListObjectVersionsCommand({
            Bucket: this.settings.bucket,
            Prefix: key,
            ...(keyMarker === undefined ? {} : { KeyMarker: keyMarker }),
            ...(versionIdMarker === undefined ? {} : { VersionIdMarker: versionIdMarker }),
          }),
        ),
      );
      for (const version of page.Versions ?? []) {
        // The prefix also matches longer keys; only this exact key is the tree head's.
        if (version.Key === key && version.VersionId && version.VersionId !== 'null') listed.push(version.VersionId);
        else if (version.Key === key) {
          throw s3AnchorTampered(
            reference.origin,
            reference.treeSize,
            where,
            'a version of the key has no version id: it was written while the bucket was not versioned, so it was not locked',
            [],
          );
        }
      }
      if (listed.length > maximumVersions) {
        throw s3AnchorTampered(
          reference.origin,
          reference.treeSize,
          where,
          `the key holds more than ${maximumVersions} versions; the anchor writes one per tree head`,
        );
      }
      if (!page.IsTruncated) break;
      keyMarker = page.NextKeyMarker;
      versionIdMarker = page.NextVersionIdMarker;
      if (keyMarker === undefined || keyMarker > key) break;
    }
    const versions: StoredVersion[] = [];
    for (const versionId of listed) versions.push(await this.#fetchVersion(key, versionId, reference));
    return versions;
  }

  async #fetchVersion(key: string, versionId: string, reference: Pick<CheckpointReference, 'origin' | 'treeSize'>): Promise<StoredVersion> {
    const where = this.#objectLocation(key);
    const tampered = (finding: string) => s3AnchorTampered(reference.origin, reference.treeSize, where, `version ${versionId} ${finding}`, [versionId]);
    const { response, envelope } = await this.#attempt(`get ${key} version ${versionId}`, async () => {
      const response = await this.#client.send(new GetObjectCommand({ Bucket: this.settings.bucket, Key: key, VersionId: versionId }));
      if ((response.ContentLength ?? 0) > maximumEnvelopeBytes) {
        (response.Body as { destroy?: () => void } | undefined)?.destroy?.();
        return { response, envelope: undefined };
      }
      return { response, envelope: (await response.Body?.transformToByteArray()) ?? new Uint8Array() };
    });
    if (envelope === undefined) throw tampered(`is ${response.ContentLength} bytes; no checkpoint envelope is that large`);
    let lockMode = response.ObjectLockMode as string | undefined;
    let liveRetainUntil = response.ObjectLockRetainUntilDate;
    if (lockMode === undefined) {
      // AWS leaves the lock out of GET unless the caller may read retention; ask for it directly.
      try {
        const retention = await this.#attempt(`read the lock of ${key} version ${versionId}`, () =>
          this.#client.send(new GetObjectRetentionCommand({ Bucket: this.settings.bucket, Key: key, VersionId: versionId })),
        );
        lockMode = retention.Retention?.Mode;
        liveRetainUntil = retention.Retention?.RetainUntilDate;
      } catch (error) {
        // The version was just read, so a 404 here means "no lock" (AWS: NoSuchObjectLockConfiguration, radosgw: ObjectLockConfigurationNotFoundError).
        if (!(isCairnError(error, 'CAIRN_ANCHOR_UNAVAILABLE') && httpStatus(error.cause) === 404)) throw error;
      }
    }
    if (lockMode !== 'COMPLIANCE') {
      throw tampered(
        `is ${lockMode ? `locked in ${lockMode} mode` : 'not locked'}, but the anchor locks every checkpoint in COMPLIANCE mode: it can be removed or replaced, so it was not written by the anchor`,
      );
    }
    const metadata = response.Metadata ?? {};
    const recorded = {
      origin: decodeOrUndefined(metadata[metadataKeys.origin]),
      treeSize: metadata[metadataKeys.treeSize],
      rootHash: metadata[metadataKeys.rootHash],
      envelopeDigest: metadata[metadataKeys.envelopeDigest],
      anchoredAt: metadata[metadataKeys.anchoredAt],
      retainUntil: metadata[metadataKeys.retainUntil],
    };
    if (
      recorded.rootHash === undefined ||
      !/^[0-9a-f]{64}$/.test(recorded.rootHash) ||
      recorded.envelopeDigest === undefined ||
      !isTimestamp(recorded.anchoredAt) ||
      !isTimestamp(recorded.retainUntil)
    ) {
      throw tampered('carries no valid anchor record (x-amz-meta-cairn-*): it was not written by the anchor');
    }
    if (recorded.origin !== reference.origin || recorded.treeSize !== String(reference.treeSize)) {
      throw tampered(`records the checkpoint of "${recorded.origin}" at tree size ${recorded.treeSize}, not this key's`);
    }
    const digest = sha256Digest(envelope);
    if (digest !== recorded.envelopeDigest) throw tampered(`hashes to ${digest}, but ${recorded.envelopeDigest} was anchored`);
    if (liveRetainUntil === undefined || liveRetainUntil.getTime() < Date.parse(recorded.retainUntil)) {
      throw tampered(`is locked until ${liveRetainUntil?.toISOString() ?? 'no date'}, earlier than the ${recorded.retainUntil} it was anchored with`);
    }
    return { versionId, envelope, rootHash: recorded.rootHash, envelopeDigest: digest, anchoredAt: recorded.anchoredAt, retainUntil: recorded.retainUntil };
  }

  /** The version a receipt names, checked against it: present, same bytes, still locked at least as long. */
  #versionOfReceipt(versions: readonly StoredVersion[], receipt: AnchorReceipt, reference: CheckpointReference, where: string): StoredVersion {
    const versionId = parseReceiptLocation(receipt.location)!.versionId;
    const tampered = (finding: string) => s3AnchorTampered(reference.origin, reference.treeSize, where, finding, [versionId]);
    const version = versions.find((candidate) => candidate.versionId === versionId);
    if (version === undefined) {
      throw tampered(
        `the receipt names version ${versionId}, which is not a version of the key (it holds ${describeVersions(versions)}): a swapped version id`,
      );
    }
    if (version.envelopeDigest !== receipt.envelopeDigest) {
      throw tampered(`the receipt's version ${versionId} holds envelope ${version.envelopeDigest}, not the receipt's ${receipt.envelopeDigest}`);
    }
    if (version.rootHash !== reference.rootHash) throw tampered(`the receipt's version ${versionId} holds root ${version.rootHash}, not ${reference.rootHash}`);
    if (receipt.retainUntil === undefined) throw tampered('the receipt has no retainUntil; the anchor writes one on every receipt');
    if (Date.parse(version.retainUntil) < Date.parse(receipt.retainUntil)) {
      throw tampered(`the receipt's version ${versionId} is locked until ${version.retainUntil}, earlier than the receipt's ${receipt.retainUntil}`);
    }
    return version;
  }

  /** A receipt must name this tree head's key in this bucket: it never sends the read elsewhere. */
  #assertReceiptFor(receipt: AnchorReceipt, reference: CheckpointReference, key: string): void {
    const named = parseReceiptLocation(receipt.location);
    const finding =
      receipt.anchor !== this.provider
        ? `the receipt is of a "${receipt.anchor}" anchor, not "${this.provider}"`
        : named === undefined
          ? `the receipt's location ${receipt.location} is not s3://bucket/key?versionId=...`
          : named.bucket !== this.settings.bucket || named.key !== key
            ? `the receipt names s3://${named.bucket}/${named.key}, not this tree head's key s3://${this.settings.bucket}/${key}`
            : receipt.origin !== reference.origin || receipt.treeSize !== reference.treeSize || receipt.rootHash !== reference.rootHash
              ? `the receipt is for ${receipt.origin}@${receipt.treeSize} (root ${receipt.rootHash}), not this checkpoint`
              : undefined;
    if (finding !== undefined) throw s3AnchorTampered(reference.origin, reference.treeSize, this.#objectLocation(key), finding);
  }

  #receiptOf(reference: Pick<CheckpointReference, 'origin' | 'treeSize'>, key: string, version: StoredVersion): AnchorReceipt {
    return {
      anchor: this.provider,
      guarantee: this.guarantee,
      location: receiptLocation(this.settings.bucket, key, version.versionId),
      anchoredAt: version.anchoredAt,
      origin: reference.origin,
      treeSize: reference.treeSize,
      rootHash: version.rootHash,
      envelopeDigest: version.envelopeDigest as AnchorReceipt['envelopeDigest'],
      retainUntil: version.retainUntil,
    };
  }

  #objectLocation(key: string): string {
    return `s3://${this.settings.bucket}/${key}`;
  }

  #notLockable(finding: string): CairnError {
    return new CairnError(
      'CAIRN_CONFIG_INVALID',
      `[cairn] [s3] the anchor bucket ${this.#location} ${finding} (setting "s3.anchor.bucket"). Fix: create a new bucket with Object Lock enabled (aws s3api create-bucket --object-lock-enabled-for-bucket, which also enables versioning) and point s3.anchor.bucket at it; Object Lock cannot be added to an existing bucket on every server.`,
      { path: 's3.anchor.bucket', details: { bucket: this.settings.bucket } },
    );
  }

  /** Runs `attempt` with the settings' retries; a failure is CAIRN_ANCHOR_UNAVAILABLE saying what and where. */
  async #attempt<Output>(operation: string, attempt: () => Promise<Output>): Promise<Output> {
    try {
      return await withS3Retries(attempt, { maxAttempts: this.settings.maxAttempts });
    } catch (error) {
      throw s3Failure(error, operation, this.#location, 'CAIRN_ANCHOR_UNAVAILABLE');
    }
  }
}

/** Builds an S3 Object Lock audit anchor; throws CAIRN_CONFIG_INVALID naming `s3.anchor.<option>`. */
export function createS3ObjectLockAnchor(settings: S3ObjectLockAnchorSettings): S3ObjectLockAnchor {
  return new S3ObjectLockAnchor(settings);
}

function describeVersions(versions: readonly StoredVersion[]): string {
  return versions.map((version, index) => `${version.versionId} (root ${version.rootHash}${index === versions.length - 1 ? ', the oldest' : ''})`).join(', ');
}

/** Every version of a tree head's key holds the same root, or one was written over the anchored one. */
function assertOneTreeHead(versions: readonly StoredVersion[], reference: CheckpointReference, where: string): void {
  const anchored = versions.at(-1)!;
  const others = versions.filter((version) => version.rootHash !== anchored.rootHash);
  if (others.length === 0) return;
  throw s3AnchorTampered(
    reference.origin,
    reference.treeSize,
    where,
    `the key holds versions of different roots: ${describeVersions(versions)}; version(s) ${others.map((version) => version.versionId).join(', ')} were written over the anchored one (a forgery, or two logs anchoring one size)`,
    versions.map((version) => version.versionId),
  );
}

function s3ErrorName(error: unknown): string | undefined {
  return (error as { name?: string } | undefined)?.name;
}

function httpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}
