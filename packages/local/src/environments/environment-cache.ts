import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@cairn/core';
import { CairnError, isCairnError, type CairnErrorCode } from '@cairn/protocol';
import { z } from 'zod';
import { diskBytes, LeasedFolderCache } from '../caches/leased-folder-cache.ts';

/** What `EnvironmentCache` is told: the snapshot cache's bounds, which it shares (ADR 0056). */
export interface EnvironmentCacheOptions {
  /** The cache's folder (made if missing): one folder per environment key. */
  readonly directory: string;
  /** What the layers may take on disk together; the least recently used go first beyond it. */
  readonly maxBytes: number;
  /** A layer nobody used for this long goes, whatever room is left. */
  readonly maxAgeMs: number;
  /** How long a failed setup fails the items that need its key before one tries again; 5 minutes by default. */
  readonly failureMemoryMs?: number;
  /**
   * How much longer than a setup's own timeout a waiter waits for another's build before it builds
   * the layer itself (a builder whose process died while its folder stays, until the executor's
   * next sweep, holds the lock); 2 minutes by default, for the copy after the setup.
   */
  readonly buildMarginMs?: number;
  readonly logger?: Logger;
}

/** What a setup left in the folder it was given: the layer's paths and its log. */
export interface BuiltEnvironment {
  /** Workspace-relative paths the layer holds (files, whiteouts, new folders): never part of a patch. */
  readonly paths: readonly Buffer[];
  /** The setup's output (its end, when long): kept beside the layer. */
  readonly log: Buffer;
  readonly setupMs: number;
  /** The egress record (NDJSON) of the setup's proxy, when it ran behind an allow-list: what it reached. */
  readonly egress?: Buffer;
}

/** A layer held for one attempt: it stays until `release`. */
export interface HeldEnvironment {
  /** The environment's digest (its key's). */
  readonly digest: string;
  /** The layer's folder: the setup's upper layer, owned by root, never written again. */
  readonly layer: string;
  readonly paths: readonly Buffer[];
  /** `sha256:<hex>` of the setup's log, and where it is kept. */
  readonly logDigest: string;
  readonly logFile: string;
  /** `sha256:<hex>` of the setup's egress record and where it is kept, when the setup ran behind an allow-list. */
  readonly egressDigest?: string;
  readonly egressFile?: string;
  /** Whether this hold ran the setup (a miss) or found the layer built (a hit). */
  readonly built: boolean;
  /** How long the setup took when it ran, for whichever attempt ran it. */
  readonly setupMs: number;
  /** Lets go of the layer (it may be evicted from now on); never throws. */
  release(): Promise<void>;
}

/** Counts since this cache was made: what `/metrics` and a test read. */
export interface EnvironmentCacheCounts {
  hits: number;
  misses: number;
  failures: number;
  setupSeconds: number;
}

const recordSchema = z.object({
  digest: z.string(),
  logDigest: z.string(),
  bytes: z.int().min(0),
  setupMs: z.number().min(0),
  egressDigest: z.string().optional(),
  builtAt: z.string(),
});
type EntryRecord = z.infer<typeof recordSchema>;

const failureSchema = z.object({ code: z.string(), message: z.string(), log: z.string(), at: z.number() });

const layerName = 'layer';
const pathsName = 'paths';
const logName = 'setup.log';
const egressName = 'setup-egress.ndjson';
const failedPrefix = '.failed-';
const lockPollMs = 100;

/**
 * Environment layers built once per host and key, beside the snapshot trees and with their bounds
 * (ADR 0056). Built aside in `.building-*` and renamed into place with their record written last;
 * one build per key at a time, under a `.lock-<hex>` file naming the builder's folder (taken over
 * once that folder is gone: a builder that died holds nothing); held by lease files naming the
 * holders' folders; evicted least recently used first beyond `maxBytes`, and when unused for
 * `maxAgeMs`, never while held. A build that fails leaves `.failed-<hex>.json` (its error and log),
 * which fails whoever needs the key for `failureMemoryMs`, so ten waiting items do not each run a
 * setup that fails.
 */
export class EnvironmentCache {
  readonly #options: EnvironmentCacheOptions;
  readonly #cache: LeasedFolderCache<EntryRecord>;
  readonly counts: EnvironmentCacheCounts = { hits: 0, misses: 0, failures: 0, setupSeconds: 0 };

  constructor(options: EnvironmentCacheOptions) {
    this.#options = options;
    // Its directory, bounds and logger are this cache's own.
    this.#cache = new LeasedFolderCache({ ...options, recordSchema, names: { entry: 'environment layer', cache: 'environment cache' } });
  }

  get directory(): string {
    return this.#options.directory;
  }

  /**
   * The layer of `digest`, held for `holder` (an attempt's folder, which must exist while it
   * holds): the one built already, or one `build` makes in the folder it is given. Throws the
   * setup's CairnError (CAIRN_ENVIRONMENT_*), its own or one recorded by another builder lately.
   * `setupTimeoutMs` bounds the wait for another's build (see `buildMarginMs`).
   */
  async hold(request: {
    readonly digest: string;
    readonly holder: string;
    readonly setupTimeoutMs: number;
    readonly build: (layer: string) => Promise<BuiltEnvironment>;
  }): Promise<HeldEnvironment> {
    const { name, entry, lock } = this.#cache.locate(request.digest);
    const waitMs = request.setupTimeoutMs + (this.#options.buildMarginMs ?? 120_000);
    const since = Date.now();
    await mkdir(this.#options.directory, { recursive: true, mode: 0o700 });
    for (;;) {
      const held = await this.#holdBuilt(entry, request.digest, request.holder);
      if (held) {
        this.counts.hits++;
        return held;
      }
      await this.#throwRecentFailure(name);
      const waitedTooLong = Date.now() - since > waitMs;
      if (!waitedTooLong && !(await this.#cache.takeLock(lock, request.holder))) {
        await sleep(lockPollMs);
        continue;
      }
      if (waitedTooLong)
        this.#options.logger?.warn(
          { digest: request.digest, lock, waitedMs: Date.now() - since },
          "another attempt's build of this environment outlasted its setup's timeout: this one builds it (the first layer renamed into place wins)",
        );
      try {
        // Built meanwhile by the holder of the lock before this one: nothing to do again.
        const built = await this.#holdBuilt(entry, request.digest, request.holder);
        if (built) {
          this.counts.hits++;
          return built;
        }
        await this.#throwRecentFailure(name);
        this.counts.misses++;
        await this.#build(entry, name, request);
        const held = await this.#holdBuilt(entry, request.digest, request.holder);
        if (held) return { ...held, built: true };
      } finally {
        // Only the lock this attempt took is its to remove.
        if (!waitedTooLong) await rm(lock, { force: true });
      }
    }
  }

  async #holdBuilt(entry: string, digest: string, holder: string): Promise<HeldEnvironment | undefined> {
    const leased = await this.#cache.leaseRecord(entry, digest, holder);
    if (typeof leased === 'string') {
      if (leased === 'foreign') await this.#cache.setAside(entry).catch(() => undefined);
      return undefined;
    }
    const { record, release } = leased;
    const paths = splitPaths(await readFile(join(entry, pathsName)));
    return {
      digest,
      layer: join(entry, layerName),
      paths,
      logDigest: record.logDigest,
      logFile: join(entry, logName),
      ...(record.egressDigest === undefined ? {} : { egressDigest: record.egressDigest, egressFile: join(entry, egressName) }),
      built: false,
      setupMs: record.setupMs,
      release,
    };
  }

  async #build(
    entry: string,
    name: string,
    request: { readonly digest: string; readonly holder: string; readonly build: (layer: string) => Promise<BuiltEnvironment> },
  ): Promise<void> {
    const failed = join(this.#options.directory, `${failedPrefix}${name}.json`);
    let setupMs = 0;
    const record = await this.#cache.build(entry, request.holder, async (building) => {
      await mkdir(join(building, layerName), { mode: 0o755 });
      let built: BuiltEnvironment;
      try {
        built = await request.build(join(building, layerName));
      } catch (error) {
        // Only the setup's own failure is remembered: one in writing the entry after it is this host's, not the key's.
        this.counts.failures++;
        await this.#rememberFailure(failed, error);
        throw error;
      }
      await writeFile(join(building, pathsName), joinPaths(built.paths));
      await writeFile(join(building, logName), built.log);
      if (built.egress) await writeFile(join(building, egressName), built.egress);
      setupMs = built.setupMs;
      return {
        digest: request.digest,
        logDigest: `sha256:${createHashHex(built.log)}`,
        bytes: await diskBytes(building),
        setupMs: built.setupMs,
        ...(built.egress ? { egressDigest: `sha256:${createHashHex(built.egress)}` } : {}),
        builtAt: new Date().toISOString(),
      };
    });
    // Built, whichever builder's layer was renamed into place: the failure this key had is past.
    await rm(failed, { force: true });
    this.counts.setupSeconds += setupMs / 1_000;
    if (!record) return;
    this.#options.logger?.info({ digest: request.digest, bytes: record.bytes, setupMs: record.setupMs }, 'environment layer built');
    await this.#cache.evictAfterBuild(entry);
  }

  /** Records a setup's CairnError in `failed`, for `#throwRecentFailure`; anything else is not remembered. */
  async #rememberFailure(failed: string, error: unknown): Promise<void> {
    if (!isCairnError(error)) return;
    const log = typeof error.details?.['log'] === 'string' ? error.details['log'] : '';
    await writeFile(failed, JSON.stringify({ code: error.code, message: error.message, log, at: Date.now() })).catch(() => undefined);
  }

  /** Throws the failure a setup of this key recorded less than `failureMemoryMs` ago. */
  async #throwRecentFailure(name: string): Promise<void> {
    const file = join(this.#options.directory, `${failedPrefix}${name}.json`);
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) return;
    const failure = failureSchema.safeParse(safeJson(text));
    if (!failure.success || Date.now() - failure.data.at >= (this.#options.failureMemoryMs ?? 300_000)) return;
    throw new CairnError(
      failure.data.code as CairnErrorCode,
      `${failure.data.message} (a setup of this environment failed ${Math.round((Date.now() - failure.data.at) / 1_000)} s ago)`,
      {
        path: 'environment.setup',
        details: { log: failure.data.log },
      },
    );
  }
}

function createHashHex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Paths as NUL-separated bytes: a name need not be UTF-8 and may hold a newline. */
function joinPaths(paths: readonly Buffer[]): Buffer {
  return Buffer.concat(paths.flatMap((path) => [path, Buffer.from([0])]));
}

function splitPaths(bytes: Buffer): Buffer[] {
  const paths: Buffer[] = [];
  let start = 0;
  for (let index = bytes.indexOf(0); index !== -1; index = bytes.indexOf(0, start)) {
    paths.push(bytes.subarray(start, index));
    start = index + 1;
  }
  return paths;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
