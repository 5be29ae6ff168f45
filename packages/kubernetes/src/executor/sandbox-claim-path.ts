import type { Logger } from '@cairn/core';
import { CairnError } from '@cairn/protocol';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { attemptSandboxClaim, sandboxClaimResource, type AttemptSandboxClaimOptions } from './attempt-sandbox-claim.ts';
import { executionLabels, managedByValue } from './execution-labels.ts';
import { answeredWith, kubernetesFailure } from './kubernetes-failure.ts';
import type { ObservedPod } from './pod-progress.ts';

/** The warm pool an executor claims sandboxes from (`sandboxPool` in its settings). */
export interface SandboxPoolSettings {
  /** The operator's `SandboxWarmPool` in the executor's namespace. */
  readonly warmPool: string;
  /** The `SandboxTemplate` that pool must use: the operator's, running the worker in its wait mode. */
  readonly template: string;
  /** How long a claim may take to be bound to a ready sandbox before its start fails. */
  readonly claimTimeoutSeconds: number;
}

/** One claim bound: how long it took from create to `Ready`, and whether its sandbox came warm from the pool. */
export interface SandboxClaimObservation {
  readonly warmPool: string;
  readonly launch: 'warm' | 'cold';
  readonly seconds: number;
}

/** Where a bound claim's attempt runs. */
export interface ClaimedPod {
  readonly claim: string;
  readonly pod: ObservedPod;
}

const sandboxResource = { group: 'agents.x-k8s.io', version: 'v1beta1', plural: 'sandboxes' } as const;
const warmPoolResource = { group: sandboxClaimResource.group, version: sandboxClaimResource.version, plural: 'sandboxwarmpools' } as const;
const launchTypeLabel = 'agents.x-k8s.io/launch-type';
const podNameAnnotation = 'agents.x-k8s.io/pod-name';
const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

interface ClaimObject {
  metadata?: { name?: string; uid?: string; deletionTimestamp?: string };
  status?: { sandbox?: { name?: string }; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

/**
 * The claim path of the Kubernetes executor (ADR 0051, step 3): an attempt claims a sandbox from the
 * operator's agent-sandbox warm pool instead of making a pod. The claim is named after the
 * execution (a second start meets the first claim), carries the attempt as pod annotations the
 * worker waits for, and is followed until it is bound to a ready Sandbox; the attempt is then that
 * Sandbox's pod, followed as the pod path follows its own. Deleting the claim takes the Sandbox and
 * its pod with it (ownership): one attempt per sandbox.
 */
export class SandboxClaimPath {
  readonly #custom: CustomObjectsApi;
  readonly #core: CoreV1Api;
  readonly #namespace: string;
  readonly #pool: SandboxPoolSettings;
  readonly #settingsPath: string;
  readonly #observe: ((observation: SandboxClaimObservation) => void) | undefined;
  readonly #logger: Logger | undefined;
  #checked: Promise<void> | undefined;

  constructor(options: {
    readonly config: KubeConfig;
    readonly namespace: string;
    readonly pool: SandboxPoolSettings;
    readonly settingsPath: string;
    readonly onClaimBound?: ((observation: SandboxClaimObservation) => void) | undefined;
    readonly logger?: Logger | undefined;
  }) {
    this.#custom = options.config.makeApiClient(CustomObjectsApi);
    this.#core = options.config.makeApiClient(CoreV1Api);
    this.#namespace = options.namespace;
    this.#pool = options.pool;
    this.#settingsPath = options.settingsPath;
    this.#observe = options.onClaimBound;
    this.#logger = options.logger;
  }

  get #option(): string {
    return `${this.#settingsPath}.sandboxPool`;
  }

  /**
   * The pool exists and uses the configured template, read once (again after a failure). A cluster
   * without agent-sandbox's CRDs answers 404 with no object named: that is said, with what to install.
   */
  checkPool(): Promise<void> {
    this.#checked ??= this.#checkPool().catch((error: unknown) => {
      this.#checked = undefined;
      throw error;
    });
    return this.#checked;
  }

  async #checkPool(): Promise<void> {
    let pool: { spec?: { sandboxTemplateRef?: { name?: string } } };
    try {
      pool = (await this.#custom.getNamespacedCustomObject({ ...warmPoolResource, namespace: this.#namespace, name: this.#pool.warmPool })) as typeof pool;
    } catch (error) {
      if (answeredWith(error, 404)) {
        const { body } = error as { body?: unknown };
        const status = (typeof body === 'string' ? safeJson(body) : body) as { details?: { name?: string } } | undefined;
        if (status?.details?.name === undefined) {
          throw new CairnError(
            'CAIRN_EXECUTOR_START_FAILED',
            `[cairn] [kubernetes] the cluster does not serve ${warmPoolResource.plural}.${warmPoolResource.group}/${warmPoolResource.version}: agent-sandbox's extension CRDs (SandboxWarmPool, SandboxClaim, SandboxTemplate) and Sandbox CRD are not installed in it. Install agent-sandbox (kubernetes-sigs/agent-sandbox, with its extensions) or remove ${this.#option} to run each attempt in a pod of its own.`,
            { path: this.#option, cause: error },
          );
        }
        throw new CairnError(
          'CAIRN_EXECUTOR_START_FAILED',
          `[cairn] [kubernetes] SandboxWarmPool ${this.#pool.warmPool} (${this.#option}.warmPool) is not in namespace ${this.#namespace}: create it, naming SandboxTemplate ${this.#pool.template}, or name another pool.`,
          { path: `${this.#option}.warmPool`, cause: error },
        );
      }
      throw kubernetesFailure(error, 'reading warm pool', this.#pool.warmPool, 'CAIRN_EXECUTOR_START_FAILED', `${this.#option}.warmPool`, this.#settingsPath);
    }
    const template = pool.spec?.sandboxTemplateRef?.name;
    if (template !== this.#pool.template) {
      throw new CairnError(
        'CAIRN_EXECUTOR_START_FAILED',
        `[cairn] [kubernetes] SandboxWarmPool ${this.#pool.warmPool} makes sandboxes of SandboxTemplate ${JSON.stringify(template)}, and ${this.#option}.template says ${this.#pool.template}: the template is what Cairn trusts to run its worker, so a pool of another is refused. Point the pool at ${this.#pool.template}, or set the template the pool uses.`,
        { path: `${this.#option}.template` },
      );
    }
  }

  /**
   * Creates the attempt's claim (or meets the one a previous start made), waits until it is bound
   * to a ready Sandbox and that Sandbox's pod carries the attempt, and answers the pod.
   * CAIRN_EXECUTOR_START_FAILED naming `claimTimeoutSeconds` when it is not bound in time (the
   * claim is deleted then, so that it never binds later).
   */
  async claim(options: AttemptSandboxClaimOptions): Promise<ClaimedPod> {
    await this.checkPool();
    const body = attemptSandboxClaim({ ...options, warmPool: this.#pool.warmPool });
    const started = Date.now();
    let created = true;
    try {
      await this.#custom.createNamespacedCustomObject({
        group: sandboxClaimResource.group,
        version: sandboxClaimResource.version,
        plural: sandboxClaimResource.plural,
        namespace: this.#namespace,
        body,
      });
    } catch (error) {
      if (!answeredWith(error, 409))
        throw kubernetesFailure(
          error,
          'creating sandbox claim',
          `${options.name} for execution ${options.executionId}`,
          'CAIRN_EXECUTOR_START_FAILED',
          this.#option,
          this.#settingsPath,
        );
      // Another start of the same execution made it first: follow that one.
      created = false;
    }
    const deadline = started + this.#pool.claimTimeoutSeconds * 1_000;
    for (;;) {
      const claim = await this.#readClaim(options.name);
      const ready = claim?.status?.conditions?.find((condition) => condition.type === 'Ready');
      const sandboxName = claim?.status?.sandbox?.name;
      if (claim !== undefined && sandboxName !== undefined) {
        // Ready, or its pod already carries the attempt and runs (or ran: a quick attempt can end
        // before the controller marks the claim Ready, and a claim whose pod ended is never Ready).
        const bound = await this.#boundPod(sandboxName, options.executionId, ready?.status === 'True');
        if (bound !== undefined) {
          if (created) this.#observe?.({ warmPool: this.#pool.warmPool, launch: bound.launch, seconds: (Date.now() - started) / 1_000 });
          return { claim: options.name, pod: bound.pod };
        }
      }
      if (Date.now() >= deadline) {
        await this.deleteClaim(options.name).catch((error: unknown) =>
          this.#logger?.warn({ claim: options.name, error: String(error) }, 'could not delete a sandbox claim that was not bound in time'),
        );
        const said = ready?.message ? ` (the claim's Ready condition says ${ready.reason ?? ''}: ${ready.message})` : '';
        throw new CairnError(
          'CAIRN_EXECUTOR_START_FAILED',
          `[cairn] [kubernetes] SandboxClaim ${options.name} of execution ${options.executionId} was not bound to a ready sandbox of warm pool ${this.#pool.warmPool} within ${this.#pool.claimTimeoutSeconds} s${said}; the claim was deleted. Check the agent-sandbox controller and the pool's capacity, or raise ${this.#option}.claimTimeoutSeconds.`,
          { path: `${this.#option}.claimTimeoutSeconds` },
        );
      }
      await sleep(100);
    }
  }

  /** The claim, or undefined when it does not exist (any more). */
  async #readClaim(name: string): Promise<ClaimObject | undefined> {
    try {
      return (await this.#custom.getNamespacedCustomObject({
        group: sandboxClaimResource.group,
        version: sandboxClaimResource.version,
        plural: sandboxClaimResource.plural,
        namespace: this.#namespace,
        name,
      })) as ClaimObject;
    } catch (error) {
      if (answeredWith(error, 404)) return undefined;
      throw kubernetesFailure(error, 'reading sandbox claim', name, 'CAIRN_EXECUTOR_UNAVAILABLE', this.#option, this.#settingsPath);
    }
  }

  /** The bound Sandbox's pod once it carries this execution's annotation (the controller patches it onto a warm pod) and is ready or has started. */
  async #boundPod(sandboxName: string, executionId: string, ready: boolean): Promise<{ pod: ObservedPod; launch: 'warm' | 'cold' } | undefined> {
    let sandbox: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> } };
    try {
      sandbox = (await this.#custom.getNamespacedCustomObject({ ...sandboxResource, namespace: this.#namespace, name: sandboxName })) as typeof sandbox;
    } catch (error) {
      if (answeredWith(error, 404)) return undefined;
      throw kubernetesFailure(error, 'reading sandbox', sandboxName, 'CAIRN_EXECUTOR_UNAVAILABLE', this.#option, this.#settingsPath);
    }
    const podName = sandbox.metadata?.annotations?.[podNameAnnotation] ?? sandboxName;
    let pod: ObservedPod;
    try {
      pod = (await this.#core.readNamespacedPod({ name: podName, namespace: this.#namespace })) as ObservedPod;
    } catch (error) {
      if (answeredWith(error, 404)) return undefined;
      throw kubernetesFailure(error, 'reading pod', podName, 'CAIRN_EXECUTOR_UNAVAILABLE', this.#option, this.#settingsPath);
    }
    if (pod.metadata?.annotations?.[executionLabels.executionId] !== executionId) return undefined;
    if (!ready && !['Running', 'Succeeded', 'Failed'].includes(pod.status?.phase ?? '')) return undefined;
    return { pod, launch: sandbox.metadata?.labels?.[launchTypeLabel] === 'warm' ? 'warm' : 'cold' };
  }

  /** Deletes a claim; its Sandbox and pod go with it. Gone already is fine. */
  async deleteClaim(name: string): Promise<void> {
    try {
      await this.#custom.deleteNamespacedCustomObject({
        group: sandboxClaimResource.group,
        version: sandboxClaimResource.version,
        plural: sandboxClaimResource.plural,
        namespace: this.#namespace,
        name,
        propagationPolicy: 'Background',
      });
    } catch (error) {
      if (answeredWith(error, 404)) return;
      throw kubernetesFailure(error, 'deleting sandbox claim', name, 'CAIRN_EXECUTOR_UNAVAILABLE', 'handle.claim', this.#settingsPath);
    }
  }

  /** Deletes the owner's claims whose attempts `live` says are over, as the sweep deletes pods; answers their names. */
  async sweep(ownerDigest: string, live: (executionId: string) => boolean | Promise<boolean>): Promise<string[]> {
    let claims: { metadata?: { name?: string; deletionTimestamp?: string; annotations?: Record<string, string> } }[];
    try {
      const labelSelector = `${executionLabels.managedBy}=${managedByValue},${executionLabels.owner}=${ownerDigest}`;
      claims = (
        (await this.#custom.listNamespacedCustomObject({
          group: sandboxClaimResource.group,
          version: sandboxClaimResource.version,
          plural: sandboxClaimResource.plural,
          namespace: this.#namespace,
          labelSelector,
        })) as { items: typeof claims }
      ).items;
    } catch (error) {
      throw kubernetesFailure(
        error,
        'listing',
        `the sandbox claims of namespace ${this.#namespace}`,
        'CAIRN_EXECUTOR_UNAVAILABLE',
        this.#option,
        this.#settingsPath,
      );
    }
    const deleted: string[] = [];
    for (const claim of claims) {
      const executionId = claim.metadata?.annotations?.[executionLabels.executionId];
      const name = claim.metadata?.name;
      if (executionId === undefined || name === undefined || claim.metadata?.deletionTimestamp !== undefined || (await live(executionId))) continue;
      try {
        await this.deleteClaim(name);
        deleted.push(name);
      } catch (error) {
        this.#logger?.warn(
          { executionId, claim: name, error: String(error) },
          'could not delete the claim of an attempt that is over; the next sweep tries again',
        );
      }
    }
    return deleted;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
