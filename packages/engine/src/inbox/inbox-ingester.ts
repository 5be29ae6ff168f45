import type { AuditActor, Logger, StorageProviderV1, StorageStray } from '@cairn/core';
import { CairnError, canonicalJsonBytes, decodeRunSpec, isCairnError, parseRunSpec, runSpecLimits, sha256Digest } from '@cairn/protocol';
import { inboxEntry, type InboxEntry } from './inbox-entry.ts';
import type { InboxIssue, InboxReceipt, InboxRejection, InboxStrayRejection } from './inbox-records.ts';

export interface InboxSubmitOptions {
  readonly actor: AuditActor;
  /**
   * `inbox:<file name>:<sha256 of its bytes>`; absent when the spec names its own
   * `idempotencyKey`, which then identifies the submission (see {@link InboxIngester}).
   */
  readonly idempotencyKey?: string;
  /** The file's storage key, so errors point at it (`inbox/nightly.yaml:3:1`). */
  readonly source: string;
}

export interface InboxSubmitResult {
  readonly runId: string;
  /** False when the idempotency key matched a run that already existed. */
  readonly created: boolean;
}

export interface InboxIngesterSettings {
  readonly storage: StorageProviderV1;
  /**
   * Submits a spec exactly as the other surfaces do (validation, idempotency); throws a
   * CairnError when the spec is refused.
   */
  readonly submit: (text: string, options: InboxSubmitOptions) => InboxSubmitResult | Promise<InboxSubmitResult>;
  /** Told what was submitted, refused or left for later; never a spec's contents. */
  readonly logger?: Logger;
  /** Where specs are dropped; `inbox/` by default. A `/` is added when missing. */
  readonly prefix?: string;
  /**
   * Files larger than this are refused from their listed size, without being read. By default
   * (and at most) the protocol's own limit, so the inbox takes every spec the API would.
   */
  readonly maxBytes?: number;
  readonly now?: () => number;
}

/** What one poll did. */
export interface InboxPoll {
  /** Files that became runs (or matched existing ones) and were removed. */
  readonly ingested: number;
  /** Files refused, with a reason written under `rejected/`. */
  readonly rejected: number;
  /** Files left in place after an error that is not theirs (storage down): tried again next poll. */
  readonly deferred: number;
}

type Outcome = 'ingested' | 'rejected' | 'deferred' | 'skipped';
type Candidate = Exclude<InboxEntry, { kind: 'ignored' }>;
interface Refusal {
  readonly code: string;
  readonly message: string;
  readonly issues?: readonly InboxIssue[];
}

/** The inbox's own actor: runs it submits are audited as submitted through the inbox. */
export const inboxActor: AuditActor = { kind: 'system', id: 'inbox', via: 'inbox' };

/** Errors that mean "this file will never be accepted as it is": it is moved aside with them. */
const refusals = new Set<string>(['CAIRN_RUN_SPEC_UNPARSABLE', 'CAIRN_RUN_SPEC_INVALID', 'CAIRN_RUN_SPEC_TOO_LARGE', 'CAIRN_IDEMPOTENCY_CONFLICT']);

/**
 * Ingests run specs dropped under `inbox/` of a storage provider (a directory, an S3 prefix) as
 * one more way to submit, with the same validation and idempotency as the others.
 *
 * A file is submitted under the idempotency key `inbox:<name>:<sha256 of its bytes>`, then its
 * receipt is written to `inbox/processed/<name>.json`, then it is deleted — in that order, so a
 * crash anywhere in between re-submits on the next poll and gets the same run back, never a
 * second one. The key also means that dropping the very same bytes under the same name again
 * returns that first run (the receipt says `created: false`): to run a spec again, give the file
 * a new name (`nightly-2026-11-22.yaml`). A spec that names its own `idempotencyKey` is submitted
 * under that key instead, as through any other surface: it is how a submitter says "these are
 * one submission" across file names and across the API, and overriding it would run twice what
 * they asked to run once.
 *
 * A file that can never be accepted as it is (unparsable, invalid, not UTF-8, too large, a key
 * conflict, not named as a spec, in a sub-folder) is moved to `inbox/rejected/<name>` beside
 * `<name>.reason.json`, which names every problem with its JSON path. A file too large to read
 * is left where it is, with its reason written once. Anything else that goes wrong (storage
 * down, an unexpected exception) is not the file's fault: it stays for the next poll. Each file
 * is handled on its own, so one bad file never holds up the others.
 *
 * Writers should upload under a hidden or `.tmp` name and rename into place (or write
 * atomically, as S3 does): a file overwritten while it is being taken may be deleted unread.
 */
export class InboxIngester {
  readonly #settings: InboxIngesterSettings;
  readonly #prefix: string;
  readonly #maxBytes: number;
  readonly #now: () => number;
  /** The poll in progress: a second caller joins it rather than taking the same files twice. */
  #polling: Promise<InboxPoll> | undefined;

  constructor(settings: InboxIngesterSettings) {
    const prefix = settings.prefix ?? 'inbox/';
    // An empty prefix would make every key in the storage (snapshots, logs) a file to refuse.
    if (prefix === '' || prefix === '/')
      throw new CairnError('CAIRN_CONFIG_INVALID', 'The inbox prefix must name a folder of the storage, such as inbox/.', { path: 'inbox.prefix' });
    const maxBytes = settings.maxBytes ?? runSpecLimits.documentBytes;
    if (!Number.isInteger(maxBytes) || maxBytes < 1)
      throw new CairnError('CAIRN_CONFIG_INVALID', `The inbox's maxBytes must be a positive whole number, got ${maxBytes}.`, { path: 'inbox.maxBytes' });
    this.#settings = settings;
    this.#prefix = prefix.endsWith('/') ? prefix : `${prefix}/`;
    this.#maxBytes = Math.min(maxBytes, runSpecLimits.documentBytes);
    this.#now = settings.now ?? Date.now;
  }

  /**
   * Takes every file in the inbox now. Rejects only when the inbox cannot be listed; a file that
   * fails is logged and counted as deferred.
   */
  poll(): Promise<InboxPoll> {
    this.#polling ??= this.#poll().finally(() => {
      this.#polling = undefined;
    });
    return this.#polling;
  }

  async #poll(): Promise<InboxPoll> {
    const counts = { ingested: 0, rejected: 0, deferred: 0 };
    counts.rejected += await this.#setStraysAside();
    for (const entry of await this.#candidates()) {
      const outcome = await this.#take(entry).catch((error: unknown): Outcome => {
        this.#settings.logger?.warn({ key: entry.key, error: describeStorageError(error) }, 'inbox file left for the next poll');
        return 'deferred';
      });
      if (outcome !== 'skipped') counts[outcome]++;
    }
    return counts;
  }

  /**
   * Moves aside every entry of the inbox folder that is not a file the storage can name (a link,
   * a FIFO, a name with a backslash or a control character, not UTF-8), so none stays there
   * silently: renamed, never read or followed, to `rejected/stray-<sha256 of its name's bytes>`
   * beside a reason. Only with a provider that has the `strays` capability.
   */
  async #setStraysAside(): Promise<number> {
    const { storage } = this.#settings;
    if (storage.capabilities.strays !== true || !storage.listStrays || !storage.setStrayAside) return 0;
    let moved = 0;
    for (const stray of await storage.listStrays(this.#prefix)) {
      const target = `${this.#prefix}rejected/stray-${sha256Hex(stray.rawName)}`;
      try {
        await storage.setStrayAside(this.#prefix, stray, target);
        await storage.put(`${target}.reason.json`, canonicalJsonBytes(this.#strayRejection(stray, target)), { contentType: 'application/json' });
      } catch (error) {
        this.#settings.logger?.warn(
          { file: JSON.stringify(stray.name), kind: stray.kind, error: describeStorageError(error) },
          'inbox stray left for the next poll',
        );
        continue;
      }
      // The name escaped (it may hold a newline or a control character); never a link's target.
      this.#settings.logger?.warn({ file: JSON.stringify(stray.name), kind: stray.kind, movedTo: target }, 'inbox entry is not a run spec file; moved aside');
      moved++;
    }
    return moved;
  }

  #strayRejection(stray: StorageStray, target: string): InboxStrayRejection {
    const rawName = Buffer.from(stray.rawName);
    const utf8 = Buffer.from(stray.name, 'utf8').equals(rawName);
    return {
      file: stray.name,
      ...(utf8 ? {} : { fileBase64: rawName.toString('base64') }),
      kind: stray.kind,
      code: 'CAIRN_RUN_SPEC_INVALID',
      message: `${JSON.stringify(stray.name)} in ${this.#prefix} was not read as a run spec: ${stray.reason}. It was moved, unread, to ${target}. Drop run specs as plain files named with printable UTF-8 and no backslash (nightly.yaml); delete ${target} when done.`,
      rejectedAt: this.#timestamp(),
    };
  }

  // Every page first, then the files: the listing is not disturbed by the deletes.
  async #candidates(): Promise<Candidate[]> {
    const candidates: Candidate[] = [];
    let cursor: string | null = null;
    do {
      const page = await this.#settings.storage.list({ prefix: this.#prefix, ...(cursor === null ? {} : { cursor }) });
      for (const key of page.keys) {
        const entry = inboxEntry(key, this.#prefix);
        if (entry.kind !== 'ignored') candidates.push(entry);
      }
      cursor = page.cursor;
    } while (cursor !== null);
    return candidates;
  }

  async #take(entry: Candidate): Promise<Outcome> {
    const { storage } = this.#settings;
    // Gone since the listing: another engine on the same storage took it.
    const head = await storage.head(entry.key);
    if (head === null) return 'skipped';
    if (head.size > this.#maxBytes) return this.#leave(entry, head.size);
    const bytes = await storage.get(entry.key);
    if (bytes === null) return 'skipped';
    if (entry.kind === 'refused') return this.#reject(entry, bytes, { code: 'CAIRN_RUN_SPEC_INVALID', message: entry.message });
    // Replaced by a larger file since `head`: it is read already, so it can be moved aside.
    if (bytes.byteLength > this.#maxBytes)
      return this.#reject(entry, bytes, { code: 'CAIRN_RUN_SPEC_TOO_LARGE', message: this.#tooLarge(entry.name, bytes.byteLength) });
    let text: string;
    try {
      text = decodeRunSpec(bytes, entry.name);
    } catch (error) {
      return this.#reject(entry, bytes, { code: 'CAIRN_RUN_SPEC_UNPARSABLE', message: (error as Error).message });
    }
    const digest = sha256Digest(bytes);
    let result: InboxSubmitResult;
    try {
      const key = declaresIdempotencyKey(text) ? {} : { idempotencyKey: `inbox:${entry.name}:${digest}` };
      result = await this.#settings.submit(text, { actor: inboxActor, source: entry.key, ...key });
    } catch (error) {
      if (isCairnError(error) && refusals.has(error.code)) {
        const issues = error.issues.map(({ path, message }) => ({ path, message }));
        return this.#reject(entry, bytes, { code: error.code, message: error.message, ...(issues.length > 0 ? { issues } : {}) });
      }
      // Not the file's fault. Only the code is logged: a message may quote the spec.
      this.#settings.logger?.warn(
        { key: entry.key, error: isCairnError(error) ? error.code : errorName(error) },
        'submitting an inbox file failed; it is left for the next poll',
      );
      return 'deferred';
    }
    const receipt: InboxReceipt = { file: entry.name, runId: result.runId, created: result.created, digest, ingestedAt: this.#timestamp() };
    await storage.put(`${this.#prefix}processed/${entry.name}.json`, canonicalJsonBytes(receipt), { contentType: 'application/json' });
    await storage.delete(entry.key);
    this.#settings.logger?.info({ key: entry.key, runId: result.runId, created: result.created }, 'inbox file submitted');
    return 'ingested';
  }

  // Moves the file aside: its bytes, then the reason, then the delete, so a crash repeats the move.
  async #reject(entry: Candidate, bytes: Uint8Array, refusal: Refusal): Promise<Outcome> {
    const { storage } = this.#settings;
    const target = this.#rejectedKey(entry.name);
    await storage.put(target, bytes);
    await storage.put(`${target}.reason.json`, canonicalJsonBytes(this.#rejection(entry.name, refusal)), { contentType: 'application/json' });
    await storage.delete(entry.key);
    this.#settings.logger?.warn({ key: entry.key, code: refusal.code }, 'inbox file rejected');
    return 'rejected';
  }

  /**
   * A file too large to read stays where it is (moving it means reading it whole), with its reason
   * under `rejected/`. The reason is written when it changes, so the file counts as rejected once,
   * not on every poll; a stale reason of an earlier file of the same name is replaced.
   */
  async #leave(entry: Candidate, size: number): Promise<Outcome> {
    const refusal: Refusal =
      entry.kind === 'refused'
        ? {
            code: 'CAIRN_RUN_SPEC_INVALID',
            message: `${entry.message} At ${size} bytes it is too large to move aside, so it was left in ${this.#prefix}; delete it.`,
          }
        : { code: 'CAIRN_RUN_SPEC_TOO_LARGE', message: this.#tooLarge(entry.name, size) };
    const reasonKey = `${this.#rejectedKey(entry.name)}.reason.json`;
    const told = await this.#settings.storage.get(reasonKey);
    if (told !== null && sameRefusal(told, refusal)) return 'skipped';
    await this.#settings.storage.put(reasonKey, canonicalJsonBytes(this.#rejection(entry.name, refusal)), { contentType: 'application/json' });
    this.#settings.logger?.warn({ key: entry.key, code: refusal.code, bytes: size }, 'inbox file too large; left in place');
    return 'rejected';
  }

  #tooLarge(name: string, size: number): string {
    return `${name} is ${size} bytes; the inbox takes run specs of at most ${this.#maxBytes} bytes. It was left in ${this.#prefix} unread: split the run into smaller specs, then replace or delete the file.`;
  }

  #rejectedKey(name: string): string {
    return `${this.#prefix}rejected/${name}`;
  }

  #rejection(name: string, refusal: Refusal): InboxRejection {
    return { file: name, code: refusal.code, message: refusal.message, ...(refusal.issues ? { issues: refusal.issues } : {}), rejectedAt: this.#timestamp() };
  }

  #timestamp(): string {
    return new Date(this.#now()).toISOString();
  }
}

// Whether the spec names its own idempotency key (then that one identifies the submission). A
// spec that does not parse gets the inbox's key; `submit` refuses it anyway.
function declaresIdempotencyKey(text: string): boolean {
  try {
    const document = parseRunSpec(text);
    return typeof document === 'object' && document !== null && typeof (document as { idempotencyKey?: unknown }).idempotencyKey === 'string';
  } catch {
    return false;
  }
}

function sha256Hex(bytes: Uint8Array): string {
  return sha256Digest(bytes).replace(/^sha256:/, '');
}

function sameRefusal(stored: Uint8Array, refusal: Refusal): boolean {
  try {
    const told = JSON.parse(new TextDecoder().decode(stored)) as Partial<InboxRejection>;
    return told.code === refusal.code && told.message === refusal.message;
  } catch {
    return false;
  }
}

// Storage failures name the store, never a spec, so their message is logged.
function describeStorageError(error: unknown): string {
  if (isCairnError(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}
