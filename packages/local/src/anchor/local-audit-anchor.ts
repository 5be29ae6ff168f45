import { mkdir, open, readFile, realpath } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { AnchorCheckpoint, AnchoredCheckpoint, AnchorReceipt, AuditAnchorV1, CheckpointReference } from '@cairn/core';
import { anchorReceiptSchema, assertAnchorCheckpoint, CairnError, canonicalJson, parseSettings, PerKeyQueue, sha256Digest } from '@cairn/protocol';
import { z } from 'zod';
import { linkIfAbsent, removeFile, syncDirectory, writeTemporaryFile } from '../storage/durable-file.ts';
import { errorCode } from '../storage/error-code.ts';
import { filePathSchema } from '../storage/file-path-schema.ts';
import { anchorTampered, anchorUnavailable } from './anchor-errors.ts';
import { originFolderName } from './origin-folder-name.ts';

/** Settings of `createLocalAuditAnchor`, checked at construction; errors name `local.anchor.<option>`. */
export const localAuditAnchorSettingsSchema = z.strictObject({
  /** The directory checkpoints are anchored in (relative to the working directory); created on first use. */
  directory: filePathSchema,
});

export type LocalAuditAnchorSettings = z.input<typeof localAuditAnchorSettingsSchema>;

/** The append-only journal of one origin's anchorings, one receipt (canonical JSON) per line. */
export const journalFileName = 'anchored.jsonl';
// Write-once files are read-only: editing one by accident takes a chmod first.
const writeOnceMode = 0o444;
const journalMode = 0o644;
const folderMode = 0o755;

/**
 * AuditAnchorV1 in a local directory, with the `detect` guarantee: whoever holds the machine can
 * rewrite the files, so tampering is detected (by the reads below, and by a verifier holding an
 * earlier copy of a receipt or of the journal), not prevented.
 *
 * One folder per origin, and in it, per checkpoint, write-once files plus an append-only journal:
 * - `<tree size>-<envelope sha256>.dsse`: the envelope bytes exactly (the receipt's `location`);
 * - `<tree size>.receipt.json`: the receipt, published with `link()`, which fails when the name
 *   exists: this is the claim on the tree size, so of two roots anchored at one size, even by two
 *   processes, exactly one is anchored and the other is CAIRN_ANCHOR_CONFLICT. It is written
 *   after the envelope, so a receipt never names an envelope that is not there;
 * - `anchored.jsonl`: every receipt again, appended in anchoring order and never rewritten, so a
 *   copy taken earlier stays a prefix of the file (a cheap check for a verifier), and so that an
 *   edited receipt file disagrees with its journal line.
 * Per-checkpoint files, rather than one file per origin, let the claim be a single atomic `link()`
 * with no lock, and let a read open one small file instead of scanning a growing one.
 *
 * `read` goes to the files every time and refuses (CAIRN_ANCHOR_TAMPERED) an envelope that no
 * longer hashes to its receipt's digest or is gone, a receipt that is not one or disagrees with the
 * journal.
 */
export class LocalAuditAnchor implements AuditAnchorV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'file';
  readonly guarantee = 'detect';
  /** The anchor directory, absolute. */
  readonly directory: string;
  #realDirectory: Promise<string> | undefined;
  /** Anchorings of one tree head in this process, one after another (no duplicate journal lines). */
  readonly #inFlight = new PerKeyQueue();

  constructor(settings: LocalAuditAnchorSettings) {
    const parsed = parseSettings(localAuditAnchorSettingsSchema, settings, 'local.anchor');
    this.directory = resolve(parsed.directory);
  }

  async anchor(checkpoint: AnchorCheckpoint): Promise<AnchorReceipt> {
    assertAnchorCheckpoint(checkpoint, 'local');
    const envelope = Uint8Array.from(checkpoint.envelope);
    return this.#inFlight.run(`${checkpoint.origin}\u0000${checkpoint.treeSize}`, () => this.#anchor(checkpoint, envelope));
  }

  async read(reference: CheckpointReference): Promise<AnchoredCheckpoint | null> {
    const folder = join(await this.#root(), originFolderName(reference.origin));
    const receiptPath = join(folder, receiptFileName(reference.treeSize));
    const text = await readTextOrNull(receiptPath, 'reading an anchor receipt');
    if (text === null) return null;
    const receipt = parseReceipt(text, reference, receiptPath);
    if (receipt.rootHash !== reference.rootHash) return null;
    await this.#checkJournal(folder, receipt, text);
    const envelopePath = join(folder, envelopeFileName(receipt));
    let envelope: Buffer;
    try {
      envelope = await readFile(envelopePath);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') throw anchorTampered(reference.origin, reference.treeSize, envelopePath, 'the anchored envelope is gone');
      throw anchorUnavailable('reading an anchored envelope', envelopePath, error);
    }
    const found = sha256Digest(envelope);
    if (found !== receipt.envelopeDigest) {
      throw anchorTampered(reference.origin, reference.treeSize, envelopePath, `the envelope hashes to ${found}, but ${receipt.envelopeDigest} was anchored`);
    }
    return { envelope: new Uint8Array(envelope.buffer, envelope.byteOffset, envelope.byteLength), receipt };
  }

  async #anchor(checkpoint: AnchorCheckpoint, envelope: Uint8Array): Promise<AnchorReceipt> {
    const folder = join(await this.#root(), originFolderName(checkpoint.origin));
    try {
      await mkdir(folder, { mode: folderMode });
      await syncDirectory(await this.#root());
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw anchorUnavailable(`anchoring "${checkpoint.origin}" at tree size ${checkpoint.treeSize}`, folder, error);
    }
    const envelopeDigest = sha256Digest(envelope);
    const receipt: AnchorReceipt = {
      anchor: this.provider,
      guarantee: this.guarantee,
      location: '',
      anchoredAt: new Date().toISOString(),
      origin: checkpoint.origin,
      treeSize: checkpoint.treeSize,
      rootHash: checkpoint.rootHash,
      envelopeDigest,
    };
    const envelopePath = join(folder, envelopeFileName(receipt));
    const receiptPath = join(folder, receiptFileName(checkpoint.treeSize));
    const ours: AnchorReceipt = { ...receipt, location: envelopePath };
    let claimed: boolean;
    try {
      // The envelope first, named by its digest: a crash before the claim leaves only an orphan.
      const envelopeWritten = await writeOnce(folder, envelopePath, envelope);
      claimed = await writeOnce(folder, receiptPath, new TextEncoder().encode(canonicalJson(ours)));
      if (!claimed && envelopeWritten) await removeFile(envelopePath);
    } catch (error) {
      throw anchorUnavailable(`anchoring "${checkpoint.origin}" at tree size ${checkpoint.treeSize}`, folder, error);
    }
    if (claimed) {
      await this.#appendJournal(folder, ours);
      return ours;
    }
    const existingText = await readTextOrNull(receiptPath, 'reading an anchor receipt');
    if (existingText === null) throw anchorTampered(checkpoint.origin, checkpoint.treeSize, receiptPath, 'the receipt vanished as it was read');
    const existing = parseReceipt(existingText, checkpoint, receiptPath);
    if (existing.rootHash !== checkpoint.rootHash) {
      throw new CairnError(
        'CAIRN_ANCHOR_CONFLICT',
        `[cairn] [local] "${checkpoint.origin}" already has a checkpoint anchored at tree size ${checkpoint.treeSize} with root ${existing.rootHash}; refusing root ${checkpoint.rootHash} (${receiptPath}). Two different logs claim one history: treat the log as compromised and investigate; anchored checkpoints are never overwritten.`,
        {
          path: receiptPath,
          details: { origin: checkpoint.origin, treeSize: checkpoint.treeSize, anchoredRoot: existing.rootHash, refusedRoot: checkpoint.rootHash },
        },
      );
    }
    // The same tree head again (a retry, or re-signed into other bytes): the first anchoring
    // stands. A crash between its claim and its journal line is repaired here.
    if (!(await this.#journalHas(folder, existing))) await this.#appendJournal(folder, existing);
    return existing;
  }

  async #appendJournal(folder: string, receipt: AnchorReceipt): Promise<void> {
    const path = join(folder, journalFileName);
    try {
      // O_APPEND: each line is one write at the end of the file, whatever else appends at once.
      const handle = await open(path, 'a', journalMode);
      try {
        await handle.write(`${canonicalJson(receipt)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (error) {
      throw anchorUnavailable(`appending to the anchor journal for "${receipt.origin}"`, path, error);
    }
  }

  /** The journal's lines for one tree size, parsed; unparsable lines (a torn last line) are skipped. */
  async #journalLines(folder: string, receipt: AnchorReceipt): Promise<string[]> {
    const text = (await readTextOrNull(join(folder, journalFileName), 'reading the anchor journal')) ?? '';
    return text.split('\n').filter((line) => {
      try {
        const entry = JSON.parse(line) as { origin?: unknown; treeSize?: unknown };
        return entry.origin === receipt.origin && entry.treeSize === receipt.treeSize;
      } catch {
        return false;
      }
    });
  }

  async #journalHas(folder: string, receipt: AnchorReceipt): Promise<boolean> {
    return (await this.#journalLines(folder, receipt)).includes(canonicalJson(receipt));
  }

  /**
   * Every journal line for the tree size must be the receipt file's exact text. No line at all is
   * allowed: a crash between the claim and the append leaves that, and the engine's retry of the
   * anchoring repairs it.
   */
  async #checkJournal(folder: string, receipt: AnchorReceipt, receiptText: string): Promise<void> {
    const lines = await this.#journalLines(folder, receipt);
    if (lines.some((line) => line !== receiptText)) {
      throw anchorTampered(receipt.origin, receipt.treeSize, join(folder, journalFileName), 'the receipt file and the append-only journal disagree');
    }
  }

  /** The real path of the anchor directory, created on first use; a failure is retried by the next call. */
  #root(): Promise<string> {
    this.#realDirectory ??= (async () => {
      await mkdir(this.directory, { recursive: true, mode: folderMode });
      return realpath(this.directory);
    })().catch((error: unknown) => {
      this.#realDirectory = undefined;
      throw anchorUnavailable('opening the anchor directory', this.directory, error);
    });
    return this.#realDirectory;
  }
}

/** Builds a directory audit anchor; throws CAIRN_CONFIG_INVALID naming `local.anchor.<option>`. */
export function createLocalAuditAnchor(settings: LocalAuditAnchorSettings): LocalAuditAnchor {
  return new LocalAuditAnchor(settings);
}

function receiptFileName(treeSize: number): string {
  return `${String(treeSize).padStart(20, '0')}.receipt.json`;
}

function envelopeFileName(receipt: Pick<AnchorReceipt, 'treeSize' | 'envelopeDigest'>): string {
  return `${String(receipt.treeSize).padStart(20, '0')}-${receipt.envelopeDigest.slice('sha256:'.length)}.dsse`;
}

/** Publishes `bytes` at `target` unless something is there; true when this call wrote it. */
async function writeOnce(folder: string, target: string, bytes: Uint8Array): Promise<boolean> {
  const temporary = await writeTemporaryFile(folder, bytes, writeOnceMode);
  const written = await linkIfAbsent(temporary, target);
  if (written) await syncDirectory(folder);
  return written;
}

async function readTextOrNull(path: string, what: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return null;
    throw anchorUnavailable(what, path, error);
  }
}

/** A stored receipt, checked: a valid AnchorReceipt for exactly this origin and tree size. */
function parseReceipt(text: string, reference: Pick<CheckpointReference, 'origin' | 'treeSize'>, path: string): AnchorReceipt {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw anchorTampered(reference.origin, reference.treeSize, path, 'the receipt file is not JSON');
  }
  const parsed = anchorReceiptSchema.safeParse(value);
  if (!parsed.success) throw anchorTampered(reference.origin, reference.treeSize, path, 'the receipt file is not a valid anchor receipt');
  const receipt = parsed.data as AnchorReceipt;
  if (receipt.origin !== reference.origin || receipt.treeSize !== reference.treeSize || canonicalJson(receipt) !== text) {
    throw anchorTampered(reference.origin, reference.treeSize, path, 'the receipt file names another checkpoint or was rewritten');
  }
  return receipt;
}
