import type { CipherV1, ExecutionHandle, ExecutionStatus, ExecutorV1, StorageProviderV1, TaskEnvelope } from '@cairn/core';
import { sealedSecretsKey, taskEnvironmentPairs, type TaskEnvironment } from '@cairn/fargate';
import { CairnError, parsePayload, parseSettings, taskEnvelopeSchema } from '@cairn/protocol';
import { CoreV1Api, NetworkingV1Api } from '@kubernetes/client-node';
import type { z } from 'zod';
import { readAttemptEnd, writeAttemptEnd } from './attempt-end-record.ts';
import { readResultRecord, recordStatus } from './attempt-result-record.ts';
import { sealAttemptValues } from './attempt-sealed-values.ts';
import { kubeConfigOf } from './kube-config-of.ts';
import { SandboxClaimPath } from './sandbox-claim-path.ts';
import { kubernetesHandleOf, kubernetesProvider, type KubernetesHandle } from './kubernetes-handle.ts';
import { EndedPodRemoval, podListingFailure } from './ended-pod-removal.ts';
import { attemptNetworkPolicy } from './attempt-network-policy.ts';
import { attemptCredentialSecret, attemptPod, credentialKeysOf, podOwnerReference, type TaskCredentials } from './attempt-pod.ts';
import {
  attemptPodSelector,
  credentialSecretNameOf,
  executionDigestOf,
  executionLabels,
  networkPolicyNameOf,
  ownerDigestOf,
  podNameOf,
} from './execution-labels.ts';
import { answeredWith, kubernetesFailure } from './kubernetes-failure.ts';
import { credentialsSchema, kubernetesExecutorSettingsSchema, settingsPathOf, type KubernetesExecutorSettings } from './kubernetes-executor-settings.ts';
import { podProgress, type ObservedPod } from './pod-progress.ts';
import { PodWatch } from './pod-watch.ts';
import { readManifestFacts, type ManifestFacts } from './stored-manifest.ts';

export { kubernetesExecutorSettingsSchema, type KubernetesExecutorSettings } from './kubernetes-executor-settings.ts';

const provider = kubernetesProvider;

/** What a cancel leaves when the worker could not write its own account (it had not started, or was killed). */
const cancelledStatus: ExecutionStatus = {
  state: 'exited',
  outcome: 'cancelled',
  reason: 'cancelled by Cairn: its pod was deleted before its worker recorded a result',
};

/**
 * ExecutorV1 on Kubernetes (ADR 0051): each attempt is one pod of the `cairn-worker` image in one
 * namespace, named after the execution id's digest (a second start meets the first one's pod). The
 * pod is created, then its default-deny NetworkPolicy, then the Secret holding its credential, both
 * owned by the pod; the kubelet starts the container only once the Secret exists, so never before
 * its policy. Secrets and the model gateway credential are sealed into storage as on Fargate (ADR
 * 0021). Exits are learned from a watch on the namespace's attempt pods; a pod's end is the
 * worker's result record when there is one, else what Kubernetes said (OOMKilled, Evicted, an
 * image that cannot be pulled, Pending past `pendingTimeoutSeconds`). The handle is `{ executor,
 * executionId, namespace, pod, uid }`: a restarted server finds its pods by it. Call `close()` to
 * stop the watch.
 */
export class KubernetesExecutor implements ExecutorV1 {
  readonly specificationVersion = 'v1';
  readonly provider = provider;
  readonly capabilities = { cancel: true, pushesCompletions: false, isolation: 'container' } as const;
  readonly #settings: z.output<typeof kubernetesExecutorSettingsSchema>;
  readonly #storage: StorageProviderV1;
  readonly #cipher: CipherV1 | undefined;
  readonly #core: CoreV1Api;
  readonly #networking: NetworkingV1Api;
  readonly #watch: PodWatch;
  /** Exits already answered: once exited, the answer never changes. */
  readonly #ended = new Map<string, ExecutionStatus>();
  /** Starts under way in this process, so that concurrent starts of one execution share one. */
  readonly #starting = new Map<string, Promise<ExecutionHandle>>();
  /** The owner label of this executor's pods: what `sweep` selects. */
  readonly #ownerDigest: string;
  /** Ended pods' deletion and the sweep. */
  readonly #removal: EndedPodRemoval;
  /** With `sandboxPool`: attempts claim sandboxes from an agent-sandbox warm pool. */
  readonly #claims: SandboxClaimPath | undefined;

  constructor(settings: KubernetesExecutorSettings) {
    this.#settings = parseSettings(kubernetesExecutorSettingsSchema, settings, settingsPathOf(settings));
    this.#storage = settings.storage;
    this.#cipher = settings.cipher;
    const config = kubeConfigOf(settings.kubeConfig, this.#settings.settingsPath);
    this.#core = config.makeApiClient(CoreV1Api);
    this.#networking = config.makeApiClient(NetworkingV1Api);
    this.#ownerDigest = ownerDigestOf(this.#settings.taskStorage);
    this.#removal = new EndedPodRemoval({
      core: this.#core,
      namespace: this.#settings.namespace,
      storage: this.#storage,
      ownerDigest: this.#ownerDigest,
      settingsPath: this.#settings.settingsPath,
      logger: settings.logger,
    });
    const pool = this.#settings.sandboxPool;
    this.#claims =
      pool === undefined
        ? undefined
        : new SandboxClaimPath({
            config,
            namespace: this.#settings.namespace,
            pool,
            settingsPath: this.#settings.settingsPath,
            onClaimBound: settings.onClaimBound,
            logger: settings.logger,
          });
    this.#watch = new PodWatch({ config, namespace: this.#settings.namespace, selector: attemptPodSelector, logger: settings.logger });
  }

  /** How many times the pod watch listed the pods (once, and again after each 410 Gone). */
  get watchRelists(): number {
    return this.#watch.relists;
  }

  async start(task: TaskEnvelope): Promise<ExecutionHandle> {
    parsePayload(taskEnvelopeSchema, task, 'task envelope');
    const under = this.#starting.get(task.executionId);
    if (under) return under;
    const starting = this.#start(task).finally(() => this.#starting.delete(task.executionId));
    this.#starting.set(task.executionId, starting);
    return starting;
  }

  async inspect(handle: ExecutionHandle): Promise<ExecutionStatus> {
    const parsed = this.#handleOf(handle);
    const { executionId, pod: name, uid } = parsed;
    const ended = this.#ended.get(executionId);
    if (ended) return ended;
    const pod = await this.#observe(name, uid, executionId);
    if (pod === undefined) {
      const known = await this.#endWithoutPod(executionId);
      if (known) return this.#settle(executionId, known);
      return {
        state: 'unknown',
        reason: `pod ${name} (uid ${uid}) of execution ${executionId} is not in namespace ${this.#settings.namespace}, and the execution left no result record`,
      };
    }
    const progress = this.#progress(pod, Date.now(), this.#settings.pendingTimeoutSeconds * 1_000);
    switch (progress.kind) {
      case 'pending':
        return { state: 'pending' };
      case 'running':
        return { state: 'running' };
      case 'ended': {
        const deleting = pod.metadata?.deletionTimestamp !== undefined;
        // Being deleted: by a cancel or for being stuck (what the executor wrote then), or after its
        // exit was answered (that answer, written before the delete).
        const written = deleting ? await readAttemptEnd(this.#storage, executionId, this.#settings.settingsPath) : undefined;
        if (written?.answered) return this.#settle(executionId, written.status);
        const record = await readResultRecord(this.#storage, executionId, this.#option('storage'));
        // The worker's record is the account; when Kubernetes ended the container (OOMKilled, an
        // eviction, the deadline) after the worker wrote it, the reason says so beside it.
        const named = record !== undefined && progress.named && record.outcome !== 'succeeded';
        const status = record ? { ...recordStatus(record), ...(named ? { reason: progress.status.reason! } : {}) } : (written?.status ?? progress.status);
        if (!deleting) {
          if (parsed.claim === undefined) await this.#removal.removeEnded(executionId, name, uid, status);
          else await this.#removeClaimed(parsed, status);
        }
        return this.#settle(executionId, status);
      }
      case 'stuck': {
        // The end is stored before the pod goes, so that a restarted executor answers it too; the
        // pod is deleted so that it cannot start later, after its attempt was recorded failed.
        this.#settings.logger?.warn({ executionId, pod: name, reason: progress.status.reason }, 'an attempt pod will not start; deleting it');
        await writeAttemptEnd(this.#storage, executionId, progress.status, this.#settings.settingsPath, { uid });
        await this.#delete(parsed);
        return this.#settle(executionId, progress.status);
      }
    }
  }

  async cancel(handle: ExecutionHandle): Promise<void> {
    const parsed = this.#handleOf(handle);
    const { executionId, pod: name, uid } = parsed;
    if (this.#ended.has(executionId)) return;
    const pod = await this.#observe(name, uid, executionId);
    // Only this execution's own pod is deleted, and only while it has not ended: cancel is idempotent.
    if (pod === undefined || pod.metadata?.deletionTimestamp !== undefined) return;
    if (this.#progress(pod, Date.now(), Number.POSITIVE_INFINITY).kind === 'ended') return;
    await writeAttemptEnd(this.#storage, executionId, cancelledStatus, this.#settings.settingsPath, { uid });
    // The worker gets SIGTERM and records the attempt cancelled within the grace period. The Secret
    // and the NetworkPolicy are owned by the pod (a claimed pod by its Sandbox, that by its claim):
    // the garbage collector deletes them after it (the test endpoint runs one too).
    await this.#delete(parsed);
  }

  /**
   * Deletes this executor's attempt pods (those labelled with its owner: its storage location)
   * whose attempts `live` says are over or unknown; a live attempt's pod is left for `inspect`,
   * which reads its exit first. Call it on the engine's leader, once the engine runs (a dispatched
   * attempt is live before its pod exists). Answers the names of the pods deleted;
   * CAIRN_EXECUTOR_UNAVAILABLE when the pods cannot be listed (see EndedPodRemoval.sweep).
   */
  async sweep(live: (executionId: string) => boolean | Promise<boolean>): Promise<string[]> {
    const pods = await this.#removal.sweep(live);
    return this.#claims === undefined ? pods : [...pods, ...(await this.#claims.sweep(this.#ownerDigest, live))];
  }

  /** Stops the pod watch. The executor answers nothing after it. */
  close(): void {
    this.#watch.close();
  }

  async #start(task: TaskEnvelope): Promise<ExecutionHandle> {
    const { executionId } = task;
    const name = podNameOf(executionId);
    const digest = executionDigestOf(executionId);
    const facts = await readManifestFacts(this.#storage, executionId, task.manifestDigest, this.#settings.settingsPath);
    if (typeof facts.network === 'object') {
      throw new CairnError(
        'CAIRN_EXECUTOR_START_FAILED',
        `[cairn] [kubernetes] execution ${executionId} has an allow-listed network, which this executor cannot confine a pod to (a pod's NetworkPolicy admits addresses, not names; ADR 0051); nothing was started. Run the item on the local executor or a runner, or give it network: false or true.`,
        { path: 'limits.network' },
      );
    }
    // A claimed sandbox is confined by its template's shared policy; an item with the internet gets a pod of its own.
    if (this.#claims !== undefined && facts.network !== true) return this.#startClaimed(task, facts);
    let pod = await this.#readPod(name, executionId, 'task.executionId');
    if (pod !== undefined && (pod.metadata?.deletionTimestamp !== undefined || this.#progress(pod, 0, Number.POSITIVE_INFINITY).kind === 'ended')) {
      // A start repeated after the attempt ended: the same pod, and no credential made for it again.
      return { executor: provider, executionId, namespace: this.#settings.namespace, pod: name, uid: pod.metadata!.uid! };
    }
    if (pod === undefined) {
      // Its pod ended and was deleted (or was deleted for being stuck, or cancelled): a start
      // repeated after that answers a handle to that pod, whose end inspect reads from storage, and
      // never runs the attempt again.
      const end = await readAttemptEnd(this.#storage, executionId, this.#settings.settingsPath);
      if (end?.uid !== undefined) return { executor: provider, executionId, namespace: this.#settings.namespace, pod: name, uid: end.uid };
    }
    const credentials = await this.#credentialsFor(executionId);
    if (pod === undefined) {
      const sealed = await this.#seal(task);
      const environment: TaskEnvironment = {
        executionId,
        manifestDigest: task.manifestDigest,
        storage: this.#settings.taskStorage,
        sealedSecrets: sealed,
        ...(sealed !== undefined ? { cipher: this.#settings.taskCipher } : {}),
        trustedKeys: this.#settings.trustedKeys,
        ...(task.gateway !== undefined ? { gatewayUrl: task.gateway.url } : {}),
        // Only ids (ADR 0055): the runtime's own spans join the attempt's trace.
        ...(task.traceContext !== undefined ? { traceContext: task.traceContext } : {}),
      };
      const body = attemptPod({
        name,
        executionId,
        executionDigest: digest,
        ownerDigest: this.#ownerDigest,
        run: facts,
        timeoutMs: facts.timeoutMs,
        image: this.#settings.image,
        containerName: this.#settings.containerName,
        template: this.#settings.podTemplate,
        environment: taskEnvironmentPairs(environment),
        secretName: credentialSecretNameOf(name),
        credentialKeys: credentialKeysOf(credentials),
      });
      try {
        pod = (await this.#core.createNamespacedPod({ namespace: this.#settings.namespace, body })) as ObservedPod;
      } catch (error) {
        if (!answeredWith(error, 409))
          throw kubernetesFailure(
            error,
            'creating pod',
            `${name} for execution ${executionId}`,
            'CAIRN_EXECUTOR_START_FAILED',
            this.#settings.settingsPath,
            this.#settings.settingsPath,
          );
        // Another start of the same execution (another replica, a retried call) made it first.
        pod = await this.#readPod(name, executionId, 'task.executionId');
        if (pod === undefined) {
          throw new CairnError(
            'CAIRN_EXECUTOR_UNAVAILABLE',
            `[cairn] [kubernetes] pod ${name} of execution ${executionId} existed when it was created and was gone when it was read; the start is tried again.`,
            { path: this.#settings.settingsPath },
          );
        }
      }
      this.#watch.remember(pod);
    }
    const uid = pod.metadata!.uid!;
    await this.#ensureOwned(name, uid, digest, facts, credentials);
    return { executor: provider, executionId, namespace: this.#settings.namespace, pod: name, uid };
  }

  /**
   * The claim path: a start repeated after the attempt's end was stored answers a handle whose end
   * inspect reads from storage; otherwise the secrets are sealed and the claim made (or met) and
   * followed to its bound pod. The handle names the claim, which goes once the exit is read.
   */
  async #startClaimed(task: TaskEnvelope, facts: ManifestFacts): Promise<ExecutionHandle> {
    const { executionId } = task;
    const name = podNameOf(executionId);
    const namespace = this.#settings.namespace;
    const end = await readAttemptEnd(this.#storage, executionId, this.#settings.settingsPath);
    if (end?.uid !== undefined) return { executor: provider, executionId, namespace, pod: name, uid: end.uid, claim: name };
    const sealed = await this.#seal(task);
    const claimed = await this.#claims!.claim({
      name,
      executionId,
      executionDigest: executionDigestOf(executionId),
      ownerDigest: this.#ownerDigest,
      manifestDigest: task.manifestDigest,
      run: facts,
      warmPool: this.#settings.sandboxPool!.warmPool,
      dispatchedAtMs: Date.now(),
      timeoutMs: facts.timeoutMs,
      sealedSecrets: sealed,
      gatewayUrl: task.gateway?.url,
      traceContext: task.traceContext,
    });
    this.#watch.remember(claimed.pod);
    return { executor: provider, executionId, namespace, pod: claimed.pod.metadata!.name!, uid: claimed.pod.metadata!.uid!, claim: claimed.claim };
  }

  /** Deletes the attempt's pod, or its claim (which takes its Sandbox and pod with it). */
  async #delete(handle: KubernetesHandle): Promise<void> {
    if (handle.claim === undefined) await this.#removal.deletePod(handle.pod, handle.uid);
    else await this.#claims!.deleteClaim(handle.claim);
  }

  /** A claimed attempt's end is stored, answered, before its claim goes: a restarted executor reads it there. */
  async #removeClaimed(handle: KubernetesHandle, status: ExecutionStatus): Promise<void> {
    await writeAttemptEnd(this.#storage, handle.executionId, status, this.#settings.settingsPath, { uid: handle.uid, answered: true });
    if (this.#claims === undefined) {
      this.#settings.logger?.warn(
        { executionId: handle.executionId, claim: handle.claim },
        'a claimed attempt ended and this executor has no sandboxPool; its claim is left for one that has',
      );
      return;
    }
    await this.#claims
      .deleteClaim(handle.claim!)
      .catch((error: unknown) =>
        this.#settings.logger?.warn(
          { executionId: handle.executionId, claim: handle.claim, error: String(error) },
          'could not delete the claim of an ended attempt; the sweep will',
        ),
      );
  }

  /**
   * The pod's NetworkPolicy, then its credential Secret, each owned by it; one that exists already
   * (a retried start) is left as it is. In this order because the kubelet starts the container only
   * once the Secret it reads exists: the policy is in place before anything runs.
   */
  async #ensureOwned(name: string, uid: string, digest: string, facts: ManifestFacts, credentials: TaskCredentials | undefined): Promise<void> {
    const owner = podOwnerReference({ name, uid });
    const namespace = this.#settings.namespace;
    const policy = attemptNetworkPolicy({
      name: networkPolicyNameOf(name),
      executionDigest: digest,
      owner,
      network: this.#settings.network,
      internet: facts.network === true,
    });
    try {
      await this.#networking.createNamespacedNetworkPolicy({ namespace, body: policy });
    } catch (error) {
      if (!answeredWith(error, 409)) {
        throw kubernetesFailure(
          error,
          'creating network policy',
          `${policy.metadata!.name} of pod ${name}`,
          'CAIRN_EXECUTOR_START_FAILED',
          this.#option('network'),
          this.#settings.settingsPath,
        );
      }
    }
    const secret = attemptCredentialSecret({
      name: credentialSecretNameOf(name),
      executionDigest: digest,
      owner,
      credentials,
    });
    try {
      await this.#core.createNamespacedSecret({ namespace, body: secret });
    } catch (error) {
      if (!answeredWith(error, 409)) {
        throw kubernetesFailure(
          error,
          'creating secret',
          `${secret.metadata!.name} of pod ${name}`,
          'CAIRN_EXECUTOR_START_FAILED',
          this.#option('taskCredentials'),
          this.#settings.settingsPath,
        );
      }
    }
  }

  async #credentialsFor(executionId: string): Promise<TaskCredentials | undefined> {
    const given = this.#settings.taskCredentials;
    if (typeof given !== 'function') return given;
    try {
      return credentialsSchema.parse(await given(executionId));
    } catch (error) {
      throw new CairnError(
        'CAIRN_EXECUTOR_UNAVAILABLE',
        `[cairn] [kubernetes] the credentials of execution ${executionId} could not be made by ${this.#option('taskCredentials')}: ${error instanceof Error ? error.message : String(error)}`,
        { path: this.#option('taskCredentials'), cause: error },
      );
    }
  }

  /** Seals the task's secrets and gateway credential into storage (see sealAttemptValues); undefined when it has none. */
  async #seal(task: TaskEnvelope): Promise<string | undefined> {
    return sealAttemptValues(this.#storage, this.#cipher, this.#settings.taskCipher !== undefined, task, this.#settings.settingsPath);
  }

  /** Listing or watching the attempt pods failed: the cluster cannot be read now. */
  #listingFailure(error: unknown): CairnError {
    return podListingFailure(error, this.#settings.namespace, this.#settings.settingsPath);
  }

  /**
   * The pod of a handle as the watch last saw it, or read when the watch has not seen it (just
   * created, or the watch not yet listed): undefined when it is gone, is another pod of that name
   * (another uid), or belongs to another execution.
   */
  async #observe(name: string, uid: string, executionId: string): Promise<ObservedPod | undefined> {
    try {
      await this.#watch.ensureStarted();
    } catch (error) {
      throw this.#listingFailure(error);
    }
    const seen = this.#watch.get(name);
    let pod: ObservedPod | undefined;
    if (seen?.state === 'present' && seen.pod.metadata?.uid === uid) pod = seen.pod;
    else if (seen?.state === 'gone' && seen.uid === uid) return undefined;
    else pod = await this.#readPod(name, undefined, 'handle.pod');
    if (pod?.metadata?.uid !== uid || pod.metadata.annotations?.[executionLabels.executionId] !== executionId) return undefined;
    return pod;
  }

  /** GET of a pod: undefined on 404. With `executionId`, a pod of that name made for another execution refuses the start. */
  async #readPod(name: string, executionId: string | undefined, path: string): Promise<ObservedPod | undefined> {
    let pod: ObservedPod;
    try {
      pod = (await this.#core.readNamespacedPod({ name, namespace: this.#settings.namespace })) as ObservedPod;
    } catch (error) {
      if (answeredWith(error, 404)) return undefined;
      throw kubernetesFailure(error, 'reading pod', name, 'CAIRN_EXECUTOR_UNAVAILABLE', path, this.#settings.settingsPath);
    }
    this.#watch.remember(pod);
    const owner = pod.metadata?.annotations?.[executionLabels.executionId];
    if (executionId !== undefined && owner !== executionId) {
      throw new CairnError(
        'CAIRN_EXECUTOR_START_FAILED',
        `[cairn] [kubernetes] pod ${name} in namespace ${this.#settings.namespace} is not execution ${executionId}'s (its ${executionLabels.executionId} annotation says ${JSON.stringify(owner)}); nothing was started. Delete that pod, or use another namespace.`,
        { path },
      );
    }
    return pod;
  }

  /**
   * How an execution whose pod is gone ended: the answer given before its pod was deleted; else its
   * worker's result record; else what the executor wrote when it deleted the pod (a cancel, stuck).
   */
  async #endWithoutPod(executionId: string): Promise<ExecutionStatus | undefined> {
    const written = await readAttemptEnd(this.#storage, executionId, this.#settings.settingsPath);
    if (written?.answered) return written.status;
    const record = await readResultRecord(this.#storage, executionId, this.#option('storage'));
    if (record) return recordStatus(record);
    return written?.status;
  }

  /** Remembers an exit, and deletes the sealed secrets the worker did not get to delete (it never ran, say). */
  async #settle(executionId: string, status: ExecutionStatus): Promise<ExecutionStatus> {
    this.#ended.set(executionId, status);
    await this.#storage
      .delete(sealedSecretsKey(executionId))
      .catch((error: unknown) => this.#settings.logger?.warn({ executionId, error: String(error) }, 'could not delete the sealed secrets of an ended attempt'));
    return status;
  }

  /** An option's path as the host's configuration spells it (`kubernetes.image`, `config.executor.image`). */
  #option(name: string): string {
    return `${this.#settings.settingsPath}.${name}`;
  }

  #progress(pod: ObservedPod, nowMs: number, pendingTimeoutMs: number) {
    return podProgress(pod, this.#settings.containerName, nowMs, pendingTimeoutMs, this.#settings.settingsPath);
  }

  #handleOf(handle: ExecutionHandle): KubernetesHandle {
    return kubernetesHandleOf(handle, this.#settings.namespace, this.#option('namespace'));
  }
}

/** Builds a Kubernetes executor; throws CAIRN_CONFIG_INVALID naming every bad option (a template that would weaken the pod among them). */
export function createKubernetesExecutor(settings: KubernetesExecutorSettings): KubernetesExecutor {
  return new KubernetesExecutor(settings);
}
