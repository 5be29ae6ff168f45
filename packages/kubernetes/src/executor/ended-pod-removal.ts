import type { ExecutionStatus, Logger, StorageProviderV1 } from '@cairn/core';
import type { CairnError } from '@cairn/protocol';
import type { CoreV1Api } from '@kubernetes/client-node';
import { writeAttemptEnd } from './attempt-end-record.ts';
import { credentialSecretNameOf, executionLabels, managedByValue } from './execution-labels.ts';
import { answeredWith, kubernetesFailure } from './kubernetes-failure.ts';
import type { ObservedPod } from './pod-progress.ts';

/** What `EndedPodRemoval` works with: the executor's client, namespace, storage and owner label. */
export interface EndedPodRemovalOptions {
  readonly core: CoreV1Api;
  readonly namespace: string;
  readonly storage: StorageProviderV1;
  /** `ownerDigestOf` the executor's storage: the only pods `sweep` may delete. */
  readonly ownerDigest: string;
  readonly settingsPath: string;
  readonly logger?: Logger | undefined;
}

/** Listing the attempt pods failed: the cluster cannot be read now (the engine tries again). */
export function podListingFailure(error: unknown, namespace: string, settingsPath: string): CairnError {
  return kubernetesFailure(error, 'listing', `the attempt pods of namespace ${namespace}`, 'CAIRN_EXECUTOR_UNAVAILABLE', settingsPath, settingsPath);
}

/**
 * How attempt pods go once they are over (ADR 0051, amended): the answered end is stored before the
 * pod is deleted, so that a restarted executor answers the same exit from storage, and `sweep`
 * deletes the pods of attempts the engine no longer knows as live. Apart from the executor, which
 * decides when an exit is read, so that neither grows past what one file should hold.
 */
export class EndedPodRemoval {
  readonly #options: EndedPodRemovalOptions;

  constructor(options: EndedPodRemovalOptions) {
    this.#options = options;
  }

  /**
   * Deletes this executor's attempt pods (those labelled with its owner: its storage location)
   * whose attempts `live` says are over or unknown: the pods of attempts that ended while no
   * executor read them, or that a restarted engine recorded lost. A pod whose attempt is live is
   * left for `inspect`, which reads its exit first: an exit is always read, after a restart too.
   * Answers the names of the pods deleted; CAIRN_EXECUTOR_UNAVAILABLE when the pods cannot be
   * listed. A pod that cannot be deleted is logged and left for the next sweep.
   */
  async sweep(live: (executionId: string) => boolean | Promise<boolean>): Promise<string[]> {
    const { core, namespace, settingsPath, logger } = this.#options;
    const labelSelector = `${executionLabels.managedBy}=${managedByValue},${executionLabels.owner}=${this.#options.ownerDigest}`;
    let pods: ObservedPod[];
    try {
      pods = (await core.listNamespacedPod({ namespace, labelSelector })).items as ObservedPod[];
    } catch (error) {
      throw podListingFailure(error, namespace, settingsPath);
    }
    const deleted: string[] = [];
    for (const pod of pods) {
      const executionId = pod.metadata?.annotations?.[executionLabels.executionId];
      const name = pod.metadata?.name;
      const uid = pod.metadata?.uid;
      if (executionId === undefined || name === undefined || uid === undefined || pod.metadata?.deletionTimestamp !== undefined) continue;
      // A claimed sandbox's pod goes with its claim (the claims' sweep): deleted alone, its Sandbox would make it again.
      if (pod.metadata?.ownerReferences?.some((owner) => owner.kind === 'Sandbox')) continue;
      if (await live(executionId)) continue;
      try {
        await this.deletePod(name, uid);
        deleted.push(name);
      } catch (error) {
        logger?.warn({ executionId, pod: name, error: String(error) }, 'could not delete the pod of an attempt that is over; the next sweep tries again');
      }
    }
    if (deleted.length > 0) logger?.info({ pods: deleted.length }, 'deleted the pods of attempts that are over');
    return deleted;
  }

  /**
   * An ended pod goes once its exit is answered: the answer is stored first (a restarted executor
   * reads it there, the pod gone), then the pod is deleted, its Secret and NetworkPolicy with it
   * (owned by it: the garbage collector's). A pod that cannot be deleted now is left for `sweep`,
   * its credential Secret deleted at least: nothing reads it any more.
   */
  async removeEnded(executionId: string, name: string, uid: string, status: ExecutionStatus): Promise<void> {
    await writeAttemptEnd(this.#options.storage, executionId, status, this.#options.settingsPath, { uid, answered: true });
    try {
      await this.deletePod(name, uid);
    } catch (error) {
      this.#options.logger?.warn({ executionId, pod: name, error: String(error) }, 'could not delete an ended attempt pod; the sweep will');
      await this.#deleteCredential(name);
    }
  }

  /** Deletes a pod by name, only if it is still the one of that uid; gone already is fine. */
  async deletePod(name: string, uid: string): Promise<void> {
    try {
      await this.#options.core.deleteNamespacedPod({
        name,
        namespace: this.#options.namespace,
        body: { preconditions: { uid }, propagationPolicy: 'Background' },
      });
    } catch (error) {
      // 404: gone already; 409: the name is another pod's now.
      if (answeredWith(error, 404) || answeredWith(error, 409)) return;
      throw kubernetesFailure(error, 'deleting pod', name, 'CAIRN_EXECUTOR_UNAVAILABLE', 'handle.pod', this.#options.settingsPath);
    }
  }

  /** Deletes the credential Secret of a pod that ended (best effort: the garbage collector deletes it with the pod in any case). */
  async #deleteCredential(podName: string): Promise<void> {
    const name = credentialSecretNameOf(podName);
    try {
      await this.#options.core.deleteNamespacedSecret({ name, namespace: this.#options.namespace });
    } catch (error) {
      if (answeredWith(error, 404)) return;
      this.#options.logger?.warn({ secret: name, error: String(error) }, "could not delete an ended attempt's credential secret");
    }
  }
}
