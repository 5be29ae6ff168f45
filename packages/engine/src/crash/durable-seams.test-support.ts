// Seams that outlive the process, for the crash test: what a killed engine left on disk is all the
// next incarnation has. Every write is a temp file renamed (or hard-linked, for if-absent) into
// place, so a SIGKILL leaves the old bytes or the new, never a torn file. Synchronous file calls on
// purpose: nothing is half-done across an await, and a kill lands between whole operations.
import { existsSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { dirname, join } from 'node:path';
import type {
  AnchorCheckpoint,
  AnchoredCheckpoint,
  AnchorReceipt,
  AuditAnchorV1,
  CheckpointReference,
  ExecutionHandle,
  ExecutionOutcome,
  ExecutionStatus,
  ExecutorV1,
  ResultRecord,
  StorageListOptions,
  StorageListPage,
  StorageObjectMetadata,
  StoragePutOptions,
  StoragePutResult,
  StorageProviderV1,
  StoredManifest,
  TaskEnvelope,
} from '@cairn/core';
import { storedManifestPayload } from '@cairn/audit';
import { createInMemorySigner, type InMemorySigner } from '@cairn/conformance/mocks';
import { blobKey, CairnError, canonicalJsonBytes, manifestKey, resultKey, sha256Digest } from '@cairn/protocol';

let temporaryCounter = 0;
/** Directories known to exist (creating files is the cost of these seams; mkdir calls add to it). */
const madeDirectories = new Set<string>();

function makeDirectory(directory: string): void {
  if (madeDirectories.has(directory)) return;
  mkdirSync(directory, { recursive: true });
  madeDirectories.add(directory);
}

/** Writes `body` to `target` atomically: a reader (or the next process) sees all of it or none. */
function writeAtomically(target: string, body: Uint8Array | string): void {
  makeDirectory(dirname(target));
  const temporary = `${target}.${process.pid}.${temporaryCounter++}.tmp`;
  writeFileSync(temporary, body);
  renameSync(temporary, target);
}

/** Writes `body` to `target` only if nothing is there, atomically (a hard link fails on EEXIST). */
function createAtomically(target: string, body: Uint8Array | string): boolean {
  makeDirectory(dirname(target));
  const temporary = `${target}.${process.pid}.${temporaryCounter++}.tmp`;
  writeFileSync(temporary, body);
  try {
    linkSync(temporary, target);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    rmSync(temporary, { force: true });
  }
}

function readOrNull(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

// Keys: `/`-separated non-empty segments, no `.`/`..`, no backslash or control characters.
function assertKey(key: string): void {
  const bad =
    key.length === 0 ||
    Buffer.byteLength(key) > 1024 ||
    /[\\\u0000-\u001f\u007f]/.test(key) ||
    key.split('/').some((segment) => segment === '' || segment === '.' || segment === '..');
  if (bad) throw new CairnError('CAIRN_STORAGE_KEY_INVALID', `The storage key ${JSON.stringify(key)} is not valid.`, { details: { key } });
}

/** A `StorageProviderV1` over a directory: a file per key, written by temp file and rename. */
export class DirectoryStorage implements StorageProviderV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'crash-directory';
  readonly capabilities = { ifAbsent: true } as const;
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  async put(key: string, body: Uint8Array, options: StoragePutOptions = {}): Promise<StoragePutResult> {
    assertKey(key);
    if (options.ifAbsent) return { written: createAtomically(join(this.root, key), body) };
    writeAtomically(join(this.root, key), body);
    return { written: true };
  }

  async get(key: string): Promise<Uint8Array | null> {
    assertKey(key);
    const bytes = readOrNull(join(this.root, key));
    return bytes === null ? null : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  async head(key: string): Promise<StorageObjectMetadata | null> {
    assertKey(key);
    try {
      return { key, size: statSync(join(this.root, key)).size };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async list(options: StorageListOptions = {}): Promise<StorageListPage> {
    const limit = options.limit ?? 1000;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new CairnError('CAIRN_STORAGE_LIST_INVALID', `The list limit ${limit} is not within 1..1000.`);
    let after: string | undefined;
    if (options.cursor !== undefined) {
      if (!options.cursor.startsWith('after:')) throw new CairnError('CAIRN_STORAGE_LIST_INVALID', 'The list cursor is not one this provider issued.');
      after = Buffer.from(options.cursor.slice('after:'.length), 'base64url').toString('utf8');
    }
    const prefix = options.prefix ?? '';
    // Walk only the deepest directory the prefix names.
    const base = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const keys: string[] = [];
    const walk = (relative: string) => {
      let entries;
      try {
        entries = readdirSync(join(this.root, relative), { withFileTypes: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return;
        throw error;
      }
      for (const entry of entries) {
        const key = relative === '' ? entry.name : `${relative}/${entry.name}`;
        if (entry.isDirectory()) walk(key);
        else if (!entry.name.endsWith('.tmp') && key.startsWith(prefix)) keys.push(key);
      }
    };
    walk(base);
    const sorted = keys
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
      .filter((key) => after === undefined || Buffer.compare(Buffer.from(key), Buffer.from(after)) > 0);
    const page = sorted.slice(0, limit);
    return { keys: page, cursor: sorted.length > limit ? `after:${Buffer.from(page.at(-1)!).toString('base64url')}` : null };
  }

  async delete(key: string): Promise<void> {
    assertKey(key);
    rmSync(join(this.root, key), { force: true });
  }
}

/** The state file of one execution: written when it starts, rewritten once when it exits. */
interface ExecutionState {
  readonly executionId: string;
  readonly manifestDigest: string;
  readonly state: 'started' | 'exited';
  readonly outcome?: ExecutionOutcome;
  readonly exitCode?: number;
}

/** Moments inside a task where the crash child may kill the process. */
export type TaskPhase = 'ran' | 'result-written';

export interface FileExecutorSettings {
  /** Where execution state files and the journal live. */
  readonly root: string;
  /** Where manifests are read and results written. */
  readonly storage: StorageProviderV1;
  /** Called at each task phase (a failpoint hook); the task goes on when it returns. */
  readonly onPhase?: (phase: TaskPhase, executionId: string) => void;
}

/**
 * An `ExecutorV1` whose tasks finish at once and whose knowledge is on disk, so a new process
 * (a new instance over the same directory) re-attaches to anything the last one started.
 *
 * - `start` is idempotent per execution id: the first call writes the execution's state file
 *   (`executions/<id>.json`, state `started`); later calls return a handle to the same execution.
 * - The task body reads the signed manifest, writes its stdout blob and a valid result record
 *   (`results/<executionId>.json`), then rewrites the state file as `exited` and pushes the exit.
 *   Argv `fail-first` exits 1 on the item's first attempt; `emit N` writes a fragment of N items as
 *   its output (the second half waiting on the first); anything else exits 0.
 * - A task that was started but never marked exited belongs to a process that died with it in
 *   flight. Its task is *finished now* (the body runs again — execution is at-least-once) rather
 *   than reported `unknown`: a real executor's task (a container, a child process) outlives the
 *   engine that started it and still exits, so the engine must re-attach to it, not lose it;
 *   `unknown` would make it `lost`, burn an attempt and, for items without retries, fail the run
 *   for a crash of the engine alone. Only a task the executor never recorded is `unknown`.
 * - Every start call, every body run and every exit is a line in `journal.log` (append-only), so
 *   the test can count how often each execution really ran.
 */
export class FileExecutor implements ExecutorV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'crash-file';
  readonly capabilities = { cancel: true, pushesCompletions: true } as const;
  readonly #settings: FileExecutorSettings;
  /** Tasks whose body runs in this process right now. */
  readonly #active = new Set<string>();
  readonly #listeners = new Set<(executionId: string, status: ExecutionStatus) => void>();

  /** The journal, opened for appending once (each line one write(2): a kill never tears one). */
  readonly #journalFd: number;

  constructor(settings: FileExecutorSettings) {
    this.#settings = settings;
    makeDirectory(join(settings.root, 'executions'));
    this.#journalFd = openSync(join(settings.root, 'journal.log'), 'a');
  }

  async start(task: TaskEnvelope): Promise<ExecutionHandle> {
    this.#journal('start', task.executionId);
    const existing = this.#read(task.executionId);
    if (existing === undefined) {
      // Starts are not raced across processes (one engine at a time), so no if-absent is needed.
      const state: ExecutionState = { executionId: task.executionId, manifestDigest: task.manifestDigest, state: 'started' };
      writeAtomically(this.#statePath(task.executionId), JSON.stringify(state));
      this.#run(task.executionId);
    } else if (existing.state === 'started') {
      this.#resumeIfOrphaned(task.executionId);
    }
    return { executor: this.provider, executionId: task.executionId };
  }

  async inspect(handle: ExecutionHandle): Promise<ExecutionStatus> {
    const executionId = this.#executionIdOf(handle);
    const state = this.#read(executionId);
    if (state === undefined) return { state: 'unknown', reason: `execution ${executionId} was never started here` };
    if (state.state === 'exited') return exitedStatus(state);
    this.#resumeIfOrphaned(executionId);
    return { state: 'running' };
  }

  async cancel(handle: ExecutionHandle): Promise<void> {
    const executionId = this.#executionIdOf(handle);
    const state = this.#read(executionId);
    if (state?.state !== 'started') return;
    writeAtomically(this.#statePath(executionId), JSON.stringify({ ...state, state: 'exited', outcome: 'cancelled', exitCode: 130 } satisfies ExecutionState));
  }

  onExit(listener: (executionId: string, status: ExecutionStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // A started task that no process runs: the process that ran it died. It is finished now.
  #resumeIfOrphaned(executionId: string): void {
    if (!this.#active.has(executionId)) this.#run(executionId);
  }

  // The task body, on its own turn of the event loop (as a real task would end later).
  #run(executionId: string): void {
    this.#active.add(executionId);
    setImmediate(() => {
      this.#body(executionId).catch((error: unknown) => {
        process.stderr.write(`task ${executionId} failed to run: ${String(error)}\n`);
        this.#active.delete(executionId);
      });
    });
  }

  async #body(executionId: string): Promise<void> {
    const { storage, onPhase } = this.#settings;
    const state = this.#read(executionId)!;
    const startedAt = new Date().toISOString();
    this.#journal('run', executionId);
    onPhase?.('ran', executionId);
    const envelope = JSON.parse(new TextDecoder().decode((await storage.get(manifestKey(state.manifestDigest)))!)) as StoredManifest;
    const manifest = JSON.parse(Buffer.from(storedManifestPayload(envelope), 'base64').toString('utf8')) as {
      runId: string;
      itemId: string;
      attempt: number;
      fencingToken: number;
      runtime: { argv: string[] };
    };
    const exitCode = manifest.runtime.argv[0] === 'fail-first' && manifest.attempt === 1 ? 1 : 0;
    const outcome: ExecutionOutcome = exitCode === 0 ? 'succeeded' : 'failed';
    // The logs are named by digest only: nothing reads artifact blobs back here, and every file
    // these seams create costs (file creation is most of a child's time on a disk filesystem).
    const stdoutDigest = sha256Digest(`${executionId} exited ${exitCode}\n`);
    // A planner's output is read back (its fragment joins the run): stored, by digest, as a worker stores it.
    const output =
      manifest.runtime.argv[0] === 'emit'
        ? canonicalJsonBytes(emittedFragment(Number(manifest.runtime.argv[1]), manifest.runtime.argv[2] === 'padded'))
        : undefined;
    if (output !== undefined) await storage.put(blobKey(sha256Digest(output)), output, { contentType: 'application/json' });
    const result: ResultRecord = {
      version: 'cairn.result/v1',
      runId: manifest.runId,
      itemId: manifest.itemId,
      attempt: manifest.attempt,
      fencingToken: manifest.fencingToken,
      executionId,
      manifestDigest: state.manifestDigest as ResultRecord['manifestDigest'],
      outcome,
      exitCode,
      startedAt,
      finishedAt: new Date().toISOString(),
      artifacts: { stdout: stdoutDigest, stderr: sha256Digest(''), ...(output === undefined ? {} : { output: sha256Digest(output) }) },
    };
    await storage.put(resultKey(executionId), canonicalJsonBytes(result), { contentType: 'application/json' });
    onPhase?.('result-written', executionId);
    const exited: ExecutionState = { ...state, state: 'exited', outcome, exitCode };
    writeAtomically(this.#statePath(executionId), JSON.stringify(exited));
    this.#journal('exit', executionId);
    this.#active.delete(executionId);
    for (const listener of [...this.#listeners]) listener(executionId, exitedStatus(exited));
  }

  #executionIdOf(handle: ExecutionHandle): string {
    if (handle.executor !== this.provider || typeof handle.executionId !== 'string') {
      throw new CairnError('CAIRN_EXECUTOR_HANDLE_INVALID', `The handle was not issued by ${this.provider}.`);
    }
    return handle.executionId;
  }

  #statePath(executionId: string): string {
    return join(this.#settings.root, 'executions', `${encodeURIComponent(executionId)}.json`);
  }

  #read(executionId: string): ExecutionState | undefined {
    const bytes = readOrNull(this.#statePath(executionId));
    return bytes === null ? undefined : (JSON.parse(bytes.toString('utf8')) as ExecutionState);
  }

  #journal(event: 'start' | 'run' | 'exit', executionId: string): void {
    writeSync(this.#journalFd, `${event} ${executionId}\n`);
  }
}

function exitedStatus(state: ExecutionState): ExecutionStatus {
  return {
    state: 'exited',
    outcome: state.outcome ?? 'failed',
    ...(state.exitCode === undefined ? {} : { exitCode: state.exitCode }),
    resultKey: resultKey(state.executionId),
  };
}

/** How often each execution was asked to start, ran its body, and exited, from the journal. */
export function readJournal(root: string): Map<string, { start: number; run: number; exit: number }> {
  const counts = new Map<string, { start: number; run: number; exit: number }>();
  const text = readOrNull(join(root, 'journal.log'))?.toString('utf8') ?? '';
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const [event, executionId] = line.split(' ') as ['start' | 'run' | 'exit', string];
    const count = counts.get(executionId) ?? { start: 0, run: 0, exit: 0 };
    count[event]++;
    counts.set(executionId, count);
  }
  return counts;
}

/** The signer key of the test directory: created once (PKCS#8 PEM), the same for every process. */
export function persistentSigner(path: string): InMemorySigner {
  if (!existsSync(path)) {
    const pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    createAtomically(path, pem);
  }
  return createInMemorySigner({ privateKey: readFileSync(path, 'utf8') });
}

/**
 * An `AuditAnchorV1` over a directory (guarantee `detect`): a file per (origin, tree size) holding
 * the envelope, its root and the receipt, created if absent, so anchoring a tree head again (the
 * engine retrying after a crash) returns the first receipt.
 */
export class DirectoryAnchor implements AuditAnchorV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'crash-directory';
  readonly guarantee = 'detect';
  readonly #root: string;
  /** Called after a checkpoint is stored, before the receipt is returned (a failpoint hook). */
  readonly #onAnchored: (() => void) | undefined;

  constructor(root: string, onAnchored?: () => void) {
    this.#root = root;
    this.#onAnchored = onAnchored;
  }

  async anchor(checkpoint: AnchorCheckpoint): Promise<AnchorReceipt> {
    const location = locationOf(checkpoint);
    const receipt: AnchorReceipt = {
      anchor: this.provider,
      guarantee: this.guarantee,
      location,
      anchoredAt: new Date().toISOString(),
      origin: checkpoint.origin,
      treeSize: checkpoint.treeSize,
      rootHash: checkpoint.rootHash,
      envelopeDigest: sha256Digest(checkpoint.envelope),
    };
    const record = { rootHash: checkpoint.rootHash, envelope: Buffer.from(checkpoint.envelope).toString('base64'), receipt };
    if (!createAtomically(join(this.#root, location), JSON.stringify(record))) {
      const existing = this.#record(location)!;
      if (existing.rootHash !== checkpoint.rootHash) {
        throw new CairnError('CAIRN_ANCHOR_CONFLICT', `Another checkpoint of ${checkpoint.origin} at tree size ${checkpoint.treeSize} is already anchored.`);
      }
      return existing.receipt;
    }
    this.#onAnchored?.();
    return receipt;
  }

  async read(reference: CheckpointReference): Promise<AnchoredCheckpoint | null> {
    const record = this.#record(locationOf(reference));
    if (record === undefined || record.rootHash !== reference.rootHash) return null;
    const envelope = Buffer.from(record.envelope, 'base64');
    if (sha256Digest(envelope) !== record.receipt.envelopeDigest)
      throw new CairnError('CAIRN_ANCHOR_TAMPERED', `The anchored checkpoint at ${record.receipt.location} was altered.`);
    return { envelope: new Uint8Array(envelope), receipt: record.receipt };
  }

  #record(location: string): { rootHash: string; envelope: string; receipt: AnchorReceipt } | undefined {
    const bytes = readOrNull(join(this.#root, location));
    return bytes === null ? undefined : (JSON.parse(bytes.toString('utf8')) as { rootHash: string; envelope: string; receipt: AnchorReceipt });
  }
}

function locationOf(reference: CheckpointReference): string {
  return `${encodeURIComponent(reference.origin)}/${String(reference.treeSize).padStart(20, '0')}.json`;
}

/** A planner's fragment of `count` items: `e0`, `e1`, ..., the second half each waiting on one of the first. */
function emittedFragment(count: number, padded = false): { items: { id: string; dependsOn?: string[]; runtime: { kind: 'command'; argv: string[] } }[] } {
  const half = Math.ceil(count / 2);
  return {
    items: Array.from({ length: count }, (_, index) => ({
      id: `e${index}`,
      ...(index >= half ? { dependsOn: [`e${index - half}`] } : {}),
      // Padded: 25 items make an output of more than 32 KiB, which joins its run in steps.
      runtime: { kind: 'command', argv: padded ? ['true', 'x'.repeat(1_400)] : ['true'] },
    })),
  };
}
