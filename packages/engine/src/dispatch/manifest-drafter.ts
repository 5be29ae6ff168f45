import type { DispatchManifest, ItemSpec, ManifestInput, ManifestNetworkAllowList, NetworkAllowListSpec } from '@cairn/core';
import { signManifests } from '@cairn/audit';
import { canonicalJsonBytes, digestOfJson, isCairnError, manifestKey, parseDuration, recordRetryWaits, sha256Digest, type RetryWait } from '@cairn/protocol';
import { engineActor } from '../engine-actor.ts';
import { isoTime } from '../iso-time.ts';
import type { ItemRecord } from '../records/run-records.ts';
import type { RunStore } from '../store/sqlite/run-store.ts';
import { lockWaitOf } from '../store/shared/stored-records.ts';
import type { DispatchChoice } from './dispatch-choice.ts';
import type { DispatchContext } from './dispatch-context.ts';
import { dispatchRefusal, isDispatchRefusal, type DispatchRefusal } from '../dispatch-refusal.ts';
import type { DispatcherSettings } from './dispatcher-settings.ts';
import { engineFailure, failureSummary } from './engine-failure.ts';
import type { DraftedDispatch, PreparedDispatch } from './prepared-dispatch.ts';
import type { PureResults } from '../store/sqlite/pure-results.ts';
import { revealItemSecrets } from './reveal-item-secrets.ts';
import { outputWanted } from './emitter-output.ts';
import { candidateDrafts, previousCandidates, type CandidateItemSpec } from './candidate-drafts.ts';
import { judgeDraft, judgedRound, roundCandidates } from './candidate-judge.ts';

const defaultTimeoutMs = 3_600_000;
/** What an empty workspace is, when a run names no snapshot. */
const emptyWorkspace = sha256Digest('');

/**
 * Turns the items a pass chose into dispatches ready to record: each attempt's manifest drafted
 * from its item's spec, then signed with the others of its pass and stored by digest. An item
 * that needs no attempt ends here instead: a pure item whose inputs produced a result before
 * reuses it, and one that cannot be dispatched at all fails.
 */
export class ManifestDrafter {
  readonly #settings: DispatcherSettings;
  readonly #runs: RunStore;
  readonly #pure: PureResults;
  readonly #now: () => number;

  constructor({ settings, runs, pure, now }: DispatchContext) {
    this.#settings = settings;
    this.#runs = runs;
    this.#pure = pure;
    this.#now = now;
  }

  /** The allow-list as the proxy enforces it: the item's entries and credentials, and the server's deny entries (a deny wins). */
  #allowList(network: NetworkAllowListSpec): ManifestNetworkAllowList {
    return { allow: network.allow, deny: [...(this.#settings.specContext?.().networkPolicy?.deny ?? [])], credentials: network.credentials ?? [] };
  }

  /**
   * Drafts the manifest of the item's next attempt (`signAndStore` signs it with the others of its
   * pass). A pure item whose inputs produced a result before reuses it instead ('reused'); one
   * that cannot be dispatched at all fails at once ('refused'). An item with candidates gets a
   * round of them, one draft each (ADR 0053).
   */
  async draft({ item, locks, stored, spec, inputs }: DispatchChoice): Promise<DraftedDispatch | DraftedDispatch[] | 'reused' | 'refused'> {
    const { runId, itemId } = item;
    const executor = this.#settings.executors[stored.executor];
    if (!executor) return this.#refuse(item, dispatchRefusal('CAIRN_CONFIG_INVALID', `no executor named ${JSON.stringify(stored.executor)} is configured`));
    if (isDispatchRefusal(inputs)) return this.#refuse(item, inputs);
    // Submit refuses an allow-list where its executor cannot keep the item to it (ADR 0049); this
    // keeps one that got past it (a spec stored before the executor changed) from running with a
    // network it did not ask for.
    if (typeof spec.network === 'object' && executor.capabilities.networkAllowLists !== true) {
      return this.#refuse(
        item,
        dispatchRefusal(
          'CAIRN_RUN_SPEC_INVALID',
          `its network is an allow-list, which executor ${JSON.stringify(stored.executor)} cannot enforce: run it on an executor that does, or use network: false or true`,
        ),
      );
    }
    const secrets = await revealItemSecrets(this.#settings.secrets, spec);
    if (secrets && isDispatchRefusal(secrets)) return this.#refuse(item, secrets);
    const workspace = (stored.workspace as DispatchManifest['workspace'] | null) ?? emptyWorkspace;
    const inputDigest = spec.effect === 'pure' ? pureInputDigest(spec, workspace, inputs, secrets?.versions ?? {}) : null;
    if (inputDigest !== null && this.#reuse(item, inputDigest)) return 'reused';
    const attempt = stored.nextAttempt;
    const executionId = `${runId}/${itemId}/${attempt}`;
    // Members in code-unit order, as canonical JSON writes them: the signature's encoding then
    // writes the manifest as it stands instead of sorting a copy of it first.
    const manifest: DispatchManifest = {
      apply: spec.apply ?? [],
      attempt,
      effect: spec.effect ?? 'read-impure',
      env: spec.env ?? {},
      ...(spec.environment === undefined ? {} : { environment: spec.environment }),
      executionId,
      fencingToken: attempt,
      inputs,
      issuedAt: isoTime(this.#now()),
      itemId,
      limits: {
        ...(executor.capabilities.isolation === undefined ? {} : { isolation: executor.capabilities.isolation }),
        maxLogBytes: 5_000_000,
        maxPatchBytes: 50_000_000,
        network: typeof spec.network === 'object' ? this.#allowList(spec.network) : spec.network === true,
        ...(spec.pathRules === 'posix' ? { pathRules: 'posix' as const } : {}),
        ...(spec.stallTimeout === undefined ? {} : { stallTimeoutMs: parseDuration(spec.stallTimeout) }),
        timeoutMs: spec.timeout ? parseDuration(spec.timeout) : defaultTimeoutMs,
      },
      runId,
      runtime: spec.runtime,
      secretNames: spec.secrets ?? [],
      version: 'cairn.manifest/v1',
      workspace,
    };
    // Only an engine with a gateway builds the attempt it asks about (this is the dispatch's hot path).
    // A round of candidates has a credential issued for each of its attempts instead.
    const gateway =
      spec.candidates === undefined
        ? this.#settings.gateway?.issue({ runId, itemId, attempt, executionId, spec, timeoutMs: manifest.limits.timeoutMs })
        : undefined;
    const drafted: DraftedDispatch = {
      manifest,
      runId,
      itemId,
      attempt,
      executionId,
      executor,
      executorName: stored.executor,
      locks,
      timeoutMs: manifest.limits.timeoutMs,
      queue: spec.queue ?? null,
      readyAt: item.readyAt,
      lockWait: lockWaitOf(stored.lockWaitStartedAt, stored.lockWaitLocks),
      inputDigest,
      hasDependents: stored.hasDependents === 1,
      ...(secrets ? { secrets: secrets.values, secretVersions: secrets.versions } : {}),
      ...(gateway === undefined ? {} : { gateway }),
      ...(spec.runsOn === undefined ? {} : { labels: spec.runsOn.labels }),
    };
    if (spec.candidates === undefined) return drafted;
    // After a round that two or more passed, the item's next attempt is its judge (ADR 0053).
    const candidates = (round: number) => roundCandidates(this.#settings.audit, runId, itemId, round);
    const judged = judgedRound(attempt, spec as CandidateItemSpec, (round) => candidates(round).filter((each) => each.passed).length);
    if (judged !== undefined)
      return judgeDraft(drafted, spec as CandidateItemSpec, judged, candidates(judged), this.#settings.storage, (judgeSpec, timeoutMs) =>
        this.#settings.gateway?.issue({ runId, itemId, attempt, executionId, spec: judgeSpec, timeoutMs }),
      );
    const previous = await previousCandidates(this.#settings.storage, item, attempt, spec.candidates.count);
    return candidateDrafts(
      drafted,
      spec as CandidateItemSpec,
      (candidateAttempt, candidateExecutionId, candidateSpec) =>
        this.#settings.gateway?.issue({
          runId,
          itemId,
          attempt: candidateAttempt,
          executionId: candidateExecutionId,
          spec: candidateSpec,
          timeoutMs: manifest.limits.timeoutMs,
        }),
      previous,
    );
  }

  /**
   * Signs the drafted manifests of one pass together (ADR 0026: one signature for two or more) and
   * stores each by its digest.
   */
  async signAndStore(drafts: readonly DraftedDispatch[]): Promise<PreparedDispatch[]> {
    // Built by `draft` from the item's spec (validated at submit) and the engine's own fields.
    const signed = await signManifests(
      drafts.map(({ manifest }) => manifest),
      this.#settings.signer,
      { prevalidated: true },
    );
    return Promise.all(
      drafts.map(async ({ manifest: _manifest, ...draft }, index) => {
        // The stored bytes and their digest from one canonical encoding, not two.
        const bytes = canonicalJsonBytes(signed[index]!);
        const manifestDigest = sha256Digest(bytes);
        // Put without a flush of its own (ADR 0024): the dispatch that names it commits without one too.
        // A put that waited for a storage outage says so in the attempt's history.
        const waits: RetryWait[] = [];
        await recordRetryWaits(waits, () =>
          this.#settings.storage.put(manifestKey(manifestDigest), bytes, { ifAbsent: true, contentType: 'application/json', deferFlush: true }),
        );
        const storageWaits = waits.filter((wait) => wait.waitedFor === 'storage').map(({ waitedMs, retries, reason }) => ({ waitedMs, retries, reason }));
        return { ...draft, manifestDigest, ...(storageWaits.length > 0 ? { storageWaits } : {}) };
      }),
    );
  }

  // Finishes a pure item with the result an earlier attempt produced from the same inputs, if one
  // did: audited as a reuse naming that attempt. False when there is none (or the item moved on).
  #reuse(item: ItemRecord, inputDigest: string): boolean {
    const earlier = this.#pure.find(inputDigest);
    if (!earlier) return false;
    const { runId, itemId } = item;
    // A planner, or an item another maps over, runs: its output grows the run, which a reused result would not.
    if (outputWanted(this.#runs, runId, itemId)()) return false;
    try {
      this.#settings.workingCopy.transaction(() => {
        this.#settings.machine.startItem(runId, itemId);
        this.#runs.setArtifacts(runId, itemId, earlier.artifacts);
        // A retry that reuses a result succeeds: the failure of the attempt before it is over.
        this.#runs.setFailure(runId, itemId, null);
        this.#settings.audit.append({
          actor: engineActor,
          action: 'item.reused',
          entity: { kind: 'item', id: `${runId}/${itemId}` },
          outcome: 'success',
          runId,
          data: { inputDigest, from: { runId: earlier.runId, itemId: earlier.itemId, attempt: earlier.attempt }, artifacts: earlier.artifacts },
        });
        this.#settings.machine.finishItem(runId, itemId, 'succeeded');
      })();
      return true;
    } catch (error) {
      if (isCairnError(error, 'CAIRN_LIFECYCLE_TRANSITION_INVALID')) return false;
      throw error;
    }
  }

  // Fails an item that cannot be dispatched at all, with why, without an attempt.
  #refuse({ runId, itemId }: ItemRecord, { refused, reason }: DispatchRefusal): 'refused' {
    const failure = engineFailure(refused, `The item was not dispatched: ${reason}.`);
    this.#settings.machine.startItem(runId, itemId);
    this.#runs.setFailure(runId, itemId, failure);
    this.#settings.machine.finishItem(runId, itemId, 'failed', engineActor, { reason, failure: failureSummary(failure) });
    return 'refused';
  }
}

/**
 * What a pure item's result depends on: what it runs, over which workspace, with which inputs,
 * environment and secret versions. Same digest, same result: the item may reuse an earlier one.
 */
function pureInputDigest(
  spec: ItemSpec,
  workspace: string,
  inputs: Readonly<Record<string, ManifestInput>>,
  secretVersions: Readonly<Record<string, number>>,
): string {
  return digestOfJson({
    version: 'cairn.pure-input/v1',
    runtime: spec.runtime,
    workspace,
    inputs: Object.fromEntries(Object.entries(inputs).map(([name, input]) => [name, input.digest])),
    apply: spec.apply ?? [],
    env: spec.env ?? {},
    secrets: secretVersions,
    network: spec.network ?? false,
    // Only when waived, so every digest taken before the rules existed stays the same.
    ...(spec.pathRules === 'posix' ? { pathRules: 'posix' } : {}),
  });
}
