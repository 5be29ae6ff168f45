import type { Logger } from '@cairn/core';
import { CoreV1Api, Watch, type KubeConfig } from '@kubernetes/client-node';
import type { ObservedPod } from './pod-progress.ts';

/** What the watch knows of a pod by name: as last seen, or gone (deleted, with the uid it had). */
export type WatchedPod = { readonly state: 'present'; readonly pod: ObservedPod } | { readonly state: 'gone'; readonly uid: string | undefined };

/**
 * The executor's view of its attempt pods, learned by one list-then-watch over the namespace's
 * pods with its label (as an informer does): resumed from the last resourceVersion when the stream
 * ends (the server's timeout, a dropped connection), relisted when the server answers 410 Gone (the
 * history it keeps has moved past that version). `inspect` answers from it; a pod it has not seen
 * (just created, not yet delivered) is read with a GET instead.
 */
export class PodWatch {
  readonly #config: KubeConfig;
  readonly #namespace: string;
  readonly #selector: string;
  readonly #logger: Logger | undefined;
  readonly #pods = new Map<string, WatchedPod>();
  readonly #core: CoreV1Api;
  #resourceVersion: string | undefined;
  #controller: AbortController | undefined;
  #started: Promise<void> | undefined;
  #closed = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #relists = 0;

  constructor(options: { config: KubeConfig; namespace: string; selector: string; logger?: Logger | undefined }) {
    this.#config = options.config;
    this.#namespace = options.namespace;
    this.#selector = options.selector;
    this.#logger = options.logger;
    this.#core = options.config.makeApiClient(CoreV1Api);
  }

  /** How many times the watch listed the pods (the first time, and after each 410 Gone). */
  get relists(): number {
    return this.#relists;
  }

  /** Starts the watch once (its first list is awaited); a failed first list is tried again on the next call. */
  async ensureStarted(): Promise<void> {
    if (this.#closed) return;
    this.#started ??= this.#list().catch((error: unknown) => {
      this.#started = undefined;
      throw error;
    });
    await this.#started;
  }

  /** The pod of that name as the watch last saw it, or undefined when it never saw one. */
  get(name: string): WatchedPod | undefined {
    return this.#pods.get(name);
  }

  /** Records a pod the executor read or created, unless the watch has seen a newer version of it. */
  remember(pod: ObservedPod): void {
    const name = pod.metadata?.name;
    if (name === undefined) return;
    const known = this.#pods.get(name);
    if (known?.state === 'present' && Number(known.pod.metadata?.resourceVersion ?? 0) >= Number(pod.metadata?.resourceVersion ?? 0)) return;
    if (known?.state === 'gone' && known.uid === pod.metadata?.uid) return;
    this.#pods.set(name, { state: 'present', pod });
  }

  /** Stops watching; the executor's `close`. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#controller?.abort();
  }

  async #list(): Promise<void> {
    const list = await this.#core.listNamespacedPod({ namespace: this.#namespace, labelSelector: this.#selector });
    this.#relists += 1;
    const listed = new Set<string>();
    for (const pod of list.items) {
      listed.add(pod.metadata!.name!);
      this.#pods.set(pod.metadata!.name!, { state: 'present', pod: pod as ObservedPod });
    }
    // A pod known before the relist and not in it was deleted while the history was lost.
    for (const [name, known] of this.#pods) {
      if (!listed.has(name) && known.state === 'present') this.#pods.set(name, { state: 'gone', uid: known.pod.metadata?.uid });
    }
    this.#resourceVersion = list.metadata?.resourceVersion;
    await this.#watch();
  }

  async #watch(): Promise<void> {
    if (this.#closed) return;
    let expired = false;
    let failed = false;
    this.#controller = await new Watch(this.#config).watch(
      `/api/v1/namespaces/${encodeURIComponent(this.#namespace)}/pods`,
      {
        labelSelector: this.#selector,
        resourceVersion: this.#resourceVersion,
        allowWatchBookmarks: true,
        // The server ends the stream before the client's 30 s inactivity timeout would cut it.
        timeoutSeconds: 25,
      },
      (type: string, object: Record<string, unknown>) => {
        if (type === 'ERROR') {
          // 410 Gone: the resourceVersion is older than the history the server keeps.
          if ((object as { code?: number }).code === 410) expired = true;
          else {
            failed = true;
            this.#logger?.warn({ status: object }, 'the pod watch answered an error');
          }
          return;
        }
        const pod = object as ObservedPod;
        const version = pod.metadata?.resourceVersion;
        if (version !== undefined) this.#resourceVersion = version;
        if (type === 'BOOKMARK') return;
        const name = pod.metadata?.name;
        if (name === undefined) return;
        if (type === 'DELETED') this.#pods.set(name, { state: 'gone', uid: pod.metadata?.uid });
        else this.#pods.set(name, { state: 'present', pod });
      },
      (error: unknown) => {
        if (this.#closed) return;
        if (error !== null && error !== undefined) this.#logger?.warn({ error: String(error) }, 'the pod watch ended; resuming');
        this.#retryTimer = setTimeout(
          () => {
            const next = expired ? this.#list() : this.#watch();
            next.catch((failure: unknown) => {
              this.#logger?.warn({ error: String(failure) }, 'the pod watch could not resume; trying again');
              this.#relistLater();
            });
          },
          // A stream the server ended (its timeout) resumes at once; a failure waits a moment.
          (error === null || error === undefined) && !failed ? 0 : 500,
        );
      },
    );
  }

  /** After a failed resume: a relist (which works from a clean slate) after a pause, until one succeeds. */
  #relistLater(): void {
    if (this.#closed) return;
    this.#retryTimer = setTimeout(() => {
      this.#list().catch(() => this.#relistLater());
    }, 1_000);
  }
}
