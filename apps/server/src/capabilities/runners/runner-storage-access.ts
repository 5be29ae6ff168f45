import type { Digest } from '@cairn/core';
import { isStorageKey } from '@cairn/protocol';

/**
 * Which storage keys a runner may reach (ADR 0050: storage through the server, never the server's
 * credentials). A runner holds a token good for the attempts it holds and nothing else, so every
 * key it names must belong to one of them:
 *
 * - `manifests/<hex>.json`: read, when it is the manifest of an attempt it holds. Never written:
 *   manifests are the engine's, signed before a runner ever sees the attempt.
 * - `blobs/<hex>`: read, when a held attempt's manifest names it (its workspace snapshot, an
 *   input's digest) or the runner wrote it while holding the attempt; written, while it holds any
 *   attempt (the bytes must hash to the key: a runner cannot plant content under a digest it does
 *   not have). Never deleted: blobs are shared by every run that has those bytes.
 *   Reads are limited to named blobs although a digest is itself a capability (knowing it means
 *   one knew the bytes or was told them): a digest is not a secret. Run specs, patches and logs of
 *   other runs print them, and a runner's host is trusted with the attempts it runs, not with every
 *   snapshot the server keeps. The check is cheap: one manifest read per attempt, kept.
 * - `delegations/<hex>.json`: read, when a held attempt's manifest is signed by that key (the
 *   worker verifies a delegated signature with it). Statements are public keys and signatures,
 *   but the same rule as blobs keeps a runner to what its attempts need.
 * - `results/<executionId>.json`: read and written for a held attempt, written once (the route
 *   keeps a stored record and refuses different bytes). Never deleted: the engine reads it.
 * - `live-logs/<executionId>/state.json` and `live-logs/<executionId>/(stdout|stderr)/<6 digits>`:
 *   read, written and deleted for a held attempt; a prefix under `live-logs/<executionId>/` listed.
 *
 * Everything else is refused. Keys are matched whole, as given: a key that is not a valid storage
 * key (a `..` segment, an empty one) is refused before any rule, and a percent sign is a character
 * like any other (`results/a%2Fb.json` is the record of execution `a%2Fb`, not of `a/b`). An
 * execution id holds slashes (`run/item/attempt`): each key shape ends in a fixed suffix, so a key
 * names at most one execution.
 *
 * A refused write or delete of a key of an attempt whose lease lapsed is `late`: the route reports
 * it (audited as `runner.late-result`), since it is a runner still working on what it lost.
 */
export function decideRunnerStorageAccess(request: RunnerStorageRequest, attempts: RunnerHeldAttempts): RunnerStorageAccess {
  const { key, operation } = request;
  if (operation === 'list') return decideList(key, attempts);
  if (!isStorageKey(key)) return refused(`${JSON.stringify(key)} is not a valid storage key`);
  const manifest = manifestPattern.exec(key);
  if (manifest) {
    if (operation !== 'read') return refused('manifests are written by the engine alone; a runner reads the manifest of an attempt it holds');
    const digest: Digest = `sha256:${manifest[1]}`;
    const owner = [...attempts.held()].find((executionId) => attempts.manifestDigestOf(executionId) === digest);
    return owner === undefined
      ? refused(`${digest} is the manifest of no attempt this runner holds`)
      : { allowed: true, rule: 'manifest-read', executionId: owner };
  }
  const blob = blobPattern.exec(key);
  if (blob) {
    const digest: Digest = `sha256:${blob[1]}`;
    if (operation === 'delete') return refused('blobs are shared by every run with those bytes and kept by the engine; a runner deletes none');
    if (operation === 'write') {
      const held = [...attempts.held()];
      return held.length === 0 ? refused('this runner holds no attempt, so it has nothing to store') : { allowed: true, rule: 'blob-write' };
    }
    const owner = [...attempts.held()].find((executionId) => attempts.blobsNamedFor(executionId)?.has(digest) === true);
    return owner === undefined
      ? refused(`blob ${digest} is named by no manifest of an attempt this runner holds (its workspace, its inputs), and the runner did not write it`)
      : { allowed: true, rule: 'blob-read', executionId: owner };
  }
  const delegation = delegationPattern.exec(key);
  if (delegation) {
    if (operation !== 'read') return refused('delegation statements are written by the engine alone');
    const keyId: Digest = `sha256:${delegation[1]}`;
    const owner = [...attempts.held()].find((executionId) => attempts.signersFor(executionId)?.has(keyId) === true);
    return owner === undefined
      ? refused(`no manifest of an attempt this runner holds is signed by ${keyId}`)
      : { allowed: true, rule: 'delegation-read', executionId: owner };
  }
  const result = resultPattern.exec(key);
  if (result) {
    const executionId = result[1]!;
    if (operation === 'delete') return refused(`the result record of ${executionId} is written once and kept: the engine reads it`, executionId);
    return ofHeldAttempt(executionId, operation, attempts, operation === 'read' ? 'result-read' : 'result-write');
  }
  const liveLog = liveLogStatePattern.exec(key) ?? liveLogSegmentPattern.exec(key);
  if (liveLog) return ofHeldAttempt(liveLog[1]!, operation, attempts, 'live-log');
  return refused(
    'a runner reaches only the keys of the attempts it holds: their manifests, the blobs and delegations those name, blobs it writes, their result records and live logs',
  );
}

/** What a runner asks: an object's key, or for `list` the prefix. */
export interface RunnerStorageRequest {
  readonly key: string;
  readonly operation: RunnerStorageOperation;
}

/** `read` is get and head; `write` is put; `list` names a prefix. */
export type RunnerStorageOperation = 'read' | 'write' | 'delete' | 'list';

/**
 * The attempts of the runner asking, as the rules read them: synchronous, so the route gathers
 * what it needs (the manifests of held attempts) before it asks.
 */
export interface RunnerHeldAttempts {
  /** The execution ids the runner holds a live lease on now. */
  held(): Iterable<string>;
  holds(executionId: string): boolean;
  /** Whether the runner held `executionId` and its lease lapsed (revoked). */
  lapsed(executionId: string): boolean;
  manifestDigestOf(executionId: string): Digest | undefined;
  /** The blobs a held attempt may read: its manifest's workspace and inputs, and the blobs the runner wrote for it; undefined when its manifest is unknown. */
  blobsNamedFor(executionId: string): ReadonlySet<Digest> | undefined;
  /** The key ids that signed a held attempt's manifest; undefined when its manifest is unknown. */
  signersFor(executionId: string): ReadonlySet<string> | undefined;
}

/** Which rule allowed a request: what the route does next depends on it (a result record is written once). */
export type RunnerStorageRule =
  'manifest-read' | 'blob-read' | 'blob-write' | 'delegation-read' | 'result-read' | 'result-write' | 'live-log' | 'live-log-list';

export type RunnerStorageAccess =
  | { readonly allowed: true; readonly rule: RunnerStorageRule; readonly executionId?: string }
  | {
      readonly allowed: false;
      /** Why, in a sentence a runner's operator can act on. */
      readonly reason: string;
      /** The execution the key names, when it names one. */
      readonly executionId?: string;
      /** A write or delete for an attempt whose lease lapsed: reported as a late result. */
      readonly late: boolean;
    };

const manifestPattern = /^manifests\/([0-9a-f]{64})\.json$/;
const blobPattern = /^blobs\/([0-9a-f]{64})$/;
const delegationPattern = /^delegations\/([0-9a-f]{64})\.json$/;
const resultPattern = /^results\/(.+)\.json$/;
const liveLogStatePattern = /^live-logs\/(.+)\/state\.json$/;
const liveLogSegmentPattern = /^live-logs\/(.+)\/(?:stdout|stderr)\/[0-9]{6}$/;

function ofHeldAttempt(
  executionId: string,
  operation: 'read' | 'write' | 'delete',
  attempts: RunnerHeldAttempts,
  rule: RunnerStorageRule,
): RunnerStorageAccess {
  if (attempts.holds(executionId)) return { allowed: true, rule, executionId };
  if (attempts.lapsed(executionId)) {
    return refused(`the lease of ${executionId} lapsed: it was revoked, and the attempt runs again elsewhere`, executionId, operation !== 'read');
  }
  return refused(`this runner holds no lease on ${executionId}`, executionId);
}

function decideList(prefix: string, attempts: RunnerHeldAttempts): RunnerStorageAccess {
  // Listing is for a held attempt's live log only; the route drops any listed key the runner may
  // not read (an execution whose id extends a held one's: `run/item/1` and `run/item/1/x`).
  for (const executionId of attempts.held()) {
    if (prefix.startsWith(`live-logs/${executionId}/`)) return { allowed: true, rule: 'live-log-list', executionId };
  }
  return refused(`a runner lists only under the live log folder of an attempt it holds (live-logs/<executionId>/), not ${JSON.stringify(prefix)}`);
}

function refused(reason: string, executionId?: string, late = false): RunnerStorageAccess {
  return { allowed: false, reason, late, ...(executionId === undefined ? {} : { executionId }) };
}
