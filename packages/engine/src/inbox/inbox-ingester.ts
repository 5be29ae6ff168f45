import type { AuditActor, Logger, StorageProviderV1 } from '@cairn/core';
import { canonicalJsonBytes, isCairnError, parseRunSpec, runSpecLimits, sha256Digest, type ValidationIssue } from '@cairn/protocol';

export interface InboxIngesterSettings {
  readonly storage: StorageProviderV1;
  /**
   * Submits a spec as any other surface does (validation, idempotency); throws a CairnError when
   * the spec is refused. Without `idempotencyKey` the spec's own key applies.
   */
  readonly submit: (text: string, options: { readonly actor: AuditActor; readonly idempotencyKey?: string; readonly source: string }) => { readonly runId: string; readonly created: boolean };
  readonly logger?: Logger;
  /** Where specs are dropped; `inbox/` by default. */
  readonly prefix?: string;
  readonly now?: () => number;
}

/** What one poll did. */
export interface InboxPoll {
  readonly ingested: number;
  readonly rejected: number;
}

/** The inbox's own actor: runs it submits are audited as submitted through the inbox. */
export const inboxActor: AuditActor = { kind: 'system', id: 'inbox', via: 'inbox' };

const specExtensions = ['.yaml', '.yml', '.json'];
/** Errors that mean "this file will never be accepted as it is": it is moved aside with them. */
const refusals = new Set(['CAIRN_RUN_SPEC_UNPARSABLE', 'CAIRN_RUN_SPEC_INVALID', 'CAIRN_RUN_SPEC_TOO_LARGE', 'CAIRN_IDEMPOTENCY_CONFLICT']);

/**
 * Ingests run specs dropped under `inbox/` of a storage provider (a directory, an S3 prefix), as
 * another way to submit. A file is submitted under an idempotency key of its name and content
 * (unless the spec names its own), then a receipt is written to `inbox/processed/<name>.json` and
 * the file deleted — in that order, so a crash in between re-submits to the same run, never a
 * second one. A file that can never be accepted (unparsable, invalid, too large, not a spec) is
 * moved to `inbox/rejected/<name>` beside `<name>.reason.json` saying what to fix. One bad file
 * never blocks the others; a storage failure leaves the file for the next poll.
 */
export class InboxIngester {
  readonly #settings: InboxIngesterSettings;
  readonly #prefix: string;
  readonly #now: () => number;

  constructor(settings: InboxIngesterSettings) {
    this.#settings = settings;
    this.#prefix = settings.prefix ?? 'inbox/';
    this.#now = settings.now ?? Date.now;
  }

  /** Ingests every file in the inbox now. */
  async poll(): Promise<InboxPoll> {
    let ingested = 0;
    let rejected = 0;
    for (const key of await this.#pending()) {
      try {
        if (await this.#ingest(key)) ingested++;
        else rejected++;
      } catch (error) {
        this.#settings.logger?.warn({ key, error: isCairnError(error) ? error.code : String(error) }, 'inbox file left for the next poll');
      }
    }
    return { ingested, rejected };
  }

  // Files directly in the inbox, skipping its own folders and files still being written.
  async #pending(): Promise<string[]> {
    const keys: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await this.#settings.storage.list({ prefix: this.#prefix, ...(cursor === null ? {} : { cursor }) });
      for (const key of page.keys) {
        const name = key.slice(this.#prefix.length);
        if (name.startsWith('processed/') || name.startsWith('rejected/')) continue;
        const base = name.slice(name.lastIndexOf('/') + 1);
        if (base.startsWith('.') || base.endsWith('.tmp') || base.endsWith('.part')) continue;
        keys.push(key);
      }
      cursor = page.cursor;
    } while (cursor !== null);
    return keys;
  }

  // True when the file became a run, false when it was moved aside.
  async #ingest(key: string): Promise<boolean> {
    const name = key.slice(this.#prefix.length);
    if (name.includes('/')) return this.#reject(key, name, { code: 'CAIRN_RUN_SPEC_INVALID', message: `Files in sub-folders of ${this.#prefix} are not read; put the spec directly in ${this.#prefix}.` });
    if (!specExtensions.some((extension) => name.endsWith(extension))) {
      return this.#reject(key, name, { code: 'CAIRN_RUN_SPEC_INVALID', message: `${name} is not a run spec file; name it with ${specExtensions.join(', ')}.` });
    }
    const head = await this.#settings.storage.head(key);
    if (head === null) return false;
    if (head.size > runSpecLimits.documentBytes) {
      // Never read whole: it stays where it is, with its reason beside the rejected files (once).
      const reason = { code: 'CAIRN_RUN_SPEC_TOO_LARGE', message: `${name} is ${head.size} bytes; a run spec may be at most ${runSpecLimits.documentBytes} bytes. Split the run, then delete this file.` };
      await this.#settings.storage.put(`${this.#rejectedKey(name)}.reason.json`, canonicalJsonBytes(this.#reason(name, reason)), { ifAbsent: true, contentType: 'application/json' });
      return false;
    }
    const bytes = await this.#settings.storage.get(key);
    if (bytes === null) return false;
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      return this.#reject(key, name, { code: 'CAIRN_RUN_SPEC_UNPARSABLE', message: `${name} is not UTF-8 text; save it as UTF-8.` });
    }
    const digest = sha256Digest(bytes);
    let result;
    try {
      result = this.#settings.submit(text, { actor: inboxActor, source: key, ...(declaresIdempotencyKey(text) ? {} : { idempotencyKey: `inbox:${name}:${digest}` }) });
    } catch (error) {
      if (!isCairnError(error) || !refusals.has(error.code)) throw error;
      return this.#reject(key, name, { code: error.code, message: error.message, ...(error.issues.length > 0 ? { issues: error.issues } : {}) });
    }
    const receipt = { file: name, runId: result.runId, created: result.created, digest, ingestedAt: new Date(this.#now()).toISOString() };
    await this.#settings.storage.put(`${this.#prefix}processed/${name}.json`, canonicalJsonBytes(receipt), { contentType: 'application/json' });
    await this.#settings.storage.delete(key);
    return true;
  }

  async #reject(key: string, name: string, reason: { code: string; message: string; issues?: readonly ValidationIssue[] }): Promise<false> {
    const bytes = await this.#settings.storage.get(key);
    const target = this.#rejectedKey(name);
    if (bytes !== null) await this.#settings.storage.put(target, bytes);
    await this.#settings.storage.put(`${target}.reason.json`, canonicalJsonBytes(this.#reason(name, reason)), { contentType: 'application/json' });
    await this.#settings.storage.delete(key);
    this.#settings.logger?.warn({ key, code: reason.code }, 'inbox file rejected');
    return false;
  }

  #rejectedKey(name: string): string {
    return `${this.#prefix}rejected/${name.replaceAll('/', '_')}`;
  }

  // What the submitter reads to fix the file: the error, and every issue with its JSON path.
  #reason(name: string, reason: { code: string; message: string; issues?: readonly ValidationIssue[] }) {
    const issues = reason.issues?.map(({ path, message }) => ({ path, message }));
    return { file: name, code: reason.code, message: reason.message, ...(issues ? { issues } : {}), rejectedAt: new Date(this.#now()).toISOString() };
  }
}

// Whether the spec names its own idempotency key (then that one identifies the submission).
function declaresIdempotencyKey(text: string): boolean {
  try {
    const document = parseRunSpec(text);
    return typeof (document as { idempotencyKey?: unknown } | null)?.idempotencyKey === 'string';
  } catch {
    return false;
  }
}
