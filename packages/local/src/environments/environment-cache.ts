import { createHash, randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Logger } from '@cairn/core';
import { CairnError, isCairnError, type CairnErrorCode } from '@cairn/protocol';
import { z } from 'zod';
import { errorCode } from '../storage/error-code.ts';

const run = promisify(execFile);

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

const recordName = 'entry.json';
const layerName = 'layer';
const pathsName = 'paths';
const logName = 'setup.log';
const egressName = 'setup-egress.ndjson';
const leasesName = 'leases';
const builderName = 'builder';
const buildingPrefix = '.building-';
const trashPrefix = '.trash-';
const lockPrefix = '.lock-';
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
  readonly counts: EnvironmentCacheCounts = { hits: 0, misses: 0, failures: 0, setupSeconds: 0 };

  constructor(options: EnvironmentCacheOptions) {
    this.#options = options;
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
    const name = entryName(request.digest);
    const entry = join(this.#options.directory, name);
    const lock = join(this.#options.directory, `${lockPrefix}${name}`);
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
      if (!waitedTooLong && !(await takeLock(lock, request.holder))) {
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
    const lease = join(entry, leasesName, randomUUID());
    try {
      await writeFile(lease, holder, { flag: 'wx' });
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw error;
    }
    const release = () =>
      rm(lease, { force: true }).then(
        () => undefined,
        () => undefined,
      );
    const record = await readRecord(entry);
    if (record?.digest !== digest) {
      await release();
      await rename(entry, join(this.#options.directory, `${trashPrefix}${randomUUID()}`)).catch(() => undefined);
      return undefined;
    }
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
    const building = join(this.#options.directory, `${buildingPrefix}${randomUUID()}`);
    await mkdir(join(building, leasesName), { recursive: true });
    await writeFile(join(building, builderName), request.holder);
    await mkdir(join(building, layerName), { mode: 0o755 });
    let built: BuiltEnvironment;
    try {
      built = await request.build(join(building, layerName));
    } catch (error) {
      await rm(building, { recursive: true, force: true }).catch(() => undefined);
      this.counts.failures++;
      if (isCairnError(error)) {
        const log = typeof error.details?.['log'] === 'string' ? error.details['log'] : '';
        await writeFile(
          join(this.#options.directory, `${failedPrefix}${name}.json`),
          JSON.stringify({ code: error.code, message: error.message, log, at: Date.now() }),
        ).catch(() => undefined);
      }
      throw error;
    }
    try {
      await writeFile(join(building, pathsName), joinPaths(built.paths));
      await writeFile(join(building, logName), built.log);
      if (built.egress) await writeFile(join(building, egressName), built.egress);
      const record: EntryRecord = {
        digest: request.digest,
        logDigest: `sha256:${createHashHex(built.log)}`,
        bytes: await diskBytes(building),
        setupMs: built.setupMs,
        ...(built.egress ? { egressDigest: `sha256:${createHashHex(built.egress)}` } : {}),
        builtAt: new Date().toISOString(),
      };
      await writeFile(join(building, recordName), JSON.stringify(record));
      await rm(join(building, builderName));
      await rm(join(this.#options.directory, `${failedPrefix}${name}.json`), { force: true });
      this.counts.setupSeconds += built.setupMs / 1_000;
      try {
        await rename(building, entry);
      } catch (error) {
        if (errorCode(error) !== 'ENOTEMPTY' && errorCode(error) !== 'EEXIST') throw error;
        await rm(building, { recursive: true, force: true });
        return;
      }
      this.#options.logger?.info({ digest: request.digest, bytes: record.bytes, setupMs: record.setupMs }, 'environment layer built');
    } catch (error) {
      await rm(building, { recursive: true, force: true }).catch(() => undefined);
      throw error;
    }
    await this.#evict(entry).catch((error: unknown) =>
      this.#options.logger?.warn({ directory: this.#options.directory, error: String(error) }, 'could not evict from the environment cache'),
    );
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

  /** Evicts layers nobody holds, least recently used first, beyond `maxBytes` and past `maxAgeMs`; `keep` stays. */
  async #evict(keep: string): Promise<void> {
    const now = Date.now();
    const entries = [];
    for (const name of await readdir(this.#options.directory)) {
      if (name.startsWith('.')) continue;
      const entry = join(this.#options.directory, name);
      const record = await readRecord(entry);
      const used = await stat(join(entry, leasesName)).catch(() => undefined);
      entries.push({ entry, bytes: record?.bytes ?? 0, usedAt: used?.mtimeMs ?? 0 });
    }
    entries.sort((left, right) => left.usedAt - right.usedAt);
    let total = entries.reduce((sum, entry) => sum + entry.bytes, 0);
    for (const { entry, bytes, usedAt } of entries) {
      if (entry === keep) continue;
      if (total <= this.#options.maxBytes && now - usedAt < this.#options.maxAgeMs) continue;
      if (await isHeld(join(entry, leasesName))) continue;
      await rename(entry, join(this.#options.directory, `${trashPrefix}${randomUUID()}`)).catch(() => undefined);
      total -= bytes;
      this.#options.logger?.info({ entry, bytes }, 'environment layer evicted');
    }
    for (const name of await readdir(this.#options.directory)) {
      const folder = join(this.#options.directory, name);
      if (name.startsWith(trashPrefix) && !(await isHeld(join(folder, leasesName)))) await rm(folder, { recursive: true, force: true });
      if (name.startsWith(buildingPrefix) && !(await isHolding(join(folder, builderName)))) await rm(folder, { recursive: true, force: true });
    }
  }
}

function entryName(digest: string): string {
  const hex = digest.slice(digest.indexOf(':') + 1);
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new CairnError('CAIRN_DIGEST_INVALID', `${JSON.stringify(digest)} is not a sha256 digest (sha256:<64 hex>).`);
  return hex;
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

async function readRecord(entry: string): Promise<EntryRecord | undefined> {
  const parsed = recordSchema.safeParse(safeJson(await readFile(join(entry, recordName), 'utf8').catch(() => '')));
  return parsed.success ? parsed.data : undefined;
}

/** Takes the build lock of a key for `holder`; a lock whose holder's folder is gone is taken over. */
async function takeLock(lock: string, holder: string): Promise<boolean> {
  try {
    await writeFile(lock, holder, { flag: 'wx' });
    return true;
  } catch (error) {
    if (errorCode(error) !== 'EEXIST') throw error;
  }
  if (await isHolding(lock)) return false;
  await rm(lock, { force: true });
  return takeLock(lock, holder);
}

/** Whether a lease, lock or builder file names a folder that still exists. */
async function isHolding(file: string): Promise<boolean> {
  const holder = await readFile(file, 'utf8').catch(() => undefined);
  return holder !== undefined && (await stat(holder).catch(() => undefined)) !== undefined;
}

async function isHeld(leases: string): Promise<boolean> {
  for (const name of await readdir(leases).catch(() => [])) if (await isHolding(join(leases, name))) return true;
  return false;
}

async function diskBytes(folder: string): Promise<number> {
  const { stdout } = await run('du', ['-s', '-B1', folder], { env: { PATH: '/usr/bin:/bin' } });
  return Number(stdout.split('\t')[0]);
}
