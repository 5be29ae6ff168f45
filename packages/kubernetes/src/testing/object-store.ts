// The API server's storage: the objects of the served namespace (and the last state of each deleted
// one), one revision counter for every write as etcd's, the watches told of each write, and the
// checks every object sent or answered passes (the Kubernetes schemas, or an installed CRD's).
import { notFound, type StatusCause } from './api-status.ts';
import {
  clone,
  descriptors,
  isCustom,
  type CustomTestResource,
  type KubernetesObject,
  type KubernetesTestResource,
  type OwnerReference,
} from './kubernetes-resources.ts';
import type { KubernetesTestEndpointOptions } from './kubernetes-test-endpoint-options.ts';
import { selection } from './object-selection.ts';
import { metadataCauses, validateObject } from './object-validation.ts';
import { checkSchema, type StructuralSchema } from './structural-schema.ts';
import { WatchStreams, type WatchEvent } from './watch-streams.ts';

/** One empty map of objects by name for each served resource. */
function byResource(): Record<KubernetesTestResource, Map<string, KubernetesObject>> {
  return Object.fromEntries(Object.keys(descriptors).map((resource) => [resource, new Map()])) as Record<KubernetesTestResource, Map<string, KubernetesObject>>;
}

/** Told of every write once it is stored and sent to the watches. */
export type CommitListener = (
  resource: KubernetesTestResource,
  type: WatchEvent['type'],
  object: KubernetesObject,
  previous: KubernetesObject | undefined,
) => void;

/** The stored objects and their revisions; the verbs (`object-writes.ts`) and the kubelet write through `commit`. */
export class KubernetesObjectStore {
  /** The one namespace served. */
  readonly namespace: string;
  readonly objects: Record<KubernetesTestResource, Map<string, KubernetesObject>> = byResource();
  /** The last state of each deleted object, by name: what `lastSeen` answers once it is gone. */
  readonly deleted: Record<KubernetesTestResource, Map<string, KubernetesObject>> = byResource();
  readonly watches: WatchStreams;
  /** The schemas of the installed CRDs this endpoint serves (their v1beta1 `openAPIV3Schema`). */
  readonly #customSchemas = new Map<CustomTestResource, StructuralSchema>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #committed: CommitListener;
  #revision = 1;
  #stopped = false;

  constructor(options: KubernetesTestEndpointOptions, committed: CommitListener) {
    this.namespace = options.namespace ?? 'cairn';
    this.#committed = committed;
    for (const definition of options.customResourceDefinitions ?? []) {
      const resource = (Object.keys(descriptors) as KubernetesTestResource[]).find(
        (candidate) => isCustom(candidate) && descriptors[candidate].group === definition.spec.group && candidate === definition.spec.names.plural,
      );
      const version = definition.spec.versions.find((candidate) => candidate.name === 'v1beta1' && candidate.served !== false);
      if (resource === undefined || !isCustom(resource) || version === undefined)
        throw new Error(`the endpoint serves no ${definition.spec.names.plural}.${definition.spec.group} at v1beta1`);
      this.#customSchemas.set(resource, version.schema.openAPIV3Schema);
    }
    this.watches = new WatchStreams({
      historyLimit: options.watchHistoryLimit ?? 1_000,
      bookmarkIntervalMs: options.bookmarkIntervalMs ?? 60_000,
      revision: () => this.#revision,
      answer: (resource, object) => this.answer(resource, object),
    });
  }

  /** The last write's revision. */
  get revision(): number {
    return this.#revision;
  }

  /** Whether the endpoint is stopping: timers no longer act. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Whether the resource is served: a custom one only with its CRD installed. */
  serves(resource: KubernetesTestResource): boolean {
    return !isCustom(resource) || this.#customSchemas.has(resource);
  }

  /** Stores a change under the next revision and tells the watches. */
  commit(resource: KubernetesTestResource, type: WatchEvent['type'], object: KubernetesObject, previous?: KubernetesObject): KubernetesObject {
    this.#revision += 1;
    object.metadata.resourceVersion = String(this.#revision);
    this.checkAnswer(resource, object);
    if (type === 'DELETED') {
      this.objects[resource].delete(object.metadata.name);
      this.deleted[resource].set(object.metadata.name, clone(object));
    } else this.objects[resource].set(object.metadata.name, object);
    const event: WatchEvent = { revision: this.#revision, type, resource, object: clone(object), previous: previous ? clone(previous) : undefined };
    this.watches.record(event);
    this.#committed(resource, type, object, previous);
    return object;
  }

  /** The object of that name, as answered. */
  read(resource: KubernetesTestResource, name: string): KubernetesObject {
    const object = this.objects[resource].get(name);
    if (!object) throw notFound(resource, name, descriptors[resource].group);
    return this.answer(resource, object);
  }

  /** The objects a list request selects, as a list answers them. */
  list(resource: KubernetesTestResource, query: Readonly<Record<string, string>>): Record<string, unknown> {
    const matches = selection(query);
    const items = [...this.objects[resource].values()]
      .filter(matches)
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
      // Items of a list carry no kind nor apiVersion: the list's kind says them.
      .map(({ kind: _kind, apiVersion: _apiVersion, ...item }) => clone(item));
    return { kind: descriptors[resource].listKind, apiVersion: descriptors[resource].apiVersion, metadata: { resourceVersion: String(this.#revision) }, items };
  }

  /** The objects that name `uid` among their owners. */
  dependentsOf(uid: string): { resource: KubernetesTestResource; name: string; reference: OwnerReference }[] {
    const dependents: { resource: KubernetesTestResource; name: string; reference: OwnerReference }[] = [];
    for (const resource of Object.keys(this.objects) as KubernetesTestResource[]) {
      for (const object of this.objects[resource].values()) {
        const reference = object.metadata.ownerReferences?.find((candidate) => candidate.uid === uid);
        if (reference) dependents.push({ resource, name: object.metadata.name, reference });
      }
    }
    return dependents;
  }

  ownerExists(uid: string): boolean {
    return Object.values(this.objects).some((objects) => [...objects.values()].some((object) => object.metadata.uid === uid));
  }

  /**
   * What the API server checks of an object it is sent: the Kubernetes schema of a built-in kind
   * (kubernetes-models) and its own rules; an installed CRD's published `openAPIV3Schema` for a
   * custom resource, and the metadata rules every object keeps.
   */
  validate(resource: KubernetesTestResource, object: Record<string, unknown>, stored?: KubernetesObject): StatusCause[] {
    if (!isCustom(resource)) return validateObject(descriptors[resource].kind, object);
    const problems = checkSchema(
      this.#customSchemas.get(resource)!,
      { ...object, apiVersion: descriptors[resource].apiVersion, kind: descriptors[resource].kind },
      '',
      stored,
    );
    // The API server's reasons: a missing field is Required, a value outside an enum NotSupported.
    const schemaCauses = problems.map((problem): StatusCause =>
      problem.message === 'is required'
        ? { reason: 'FieldValueRequired', message: 'Required value', field: problem.path }
        : {
            reason: problem.message.startsWith('must be one of') ? 'FieldValueNotSupported' : 'FieldValueInvalid',
            message: `Invalid value: ${problem.message}`,
            field: problem.path,
          },
    );
    return schemaCauses.length > 0 ? schemaCauses : metadataCauses(object);
  }

  /** What the endpoint answers must pass the schema too: an answer that does not is the endpoint's bug, not the client's. */
  checkAnswer(resource: KubernetesTestResource, object: KubernetesObject): void {
    const causes = this.validate(resource, object);
    if (causes.length > 0) throw new Error(`the endpoint made an invalid ${descriptors[resource].kind}: ${JSON.stringify(causes)}`);
  }

  /** An object as the endpoint answers it: checked, then copied. */
  answer(resource: KubernetesTestResource, object: KubernetesObject): KubernetesObject {
    this.checkAnswer(resource, object);
    return clone(object);
  }

  /** Runs `action` after `milliseconds` unless the endpoint stops first. */
  after(milliseconds: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      action();
    }, milliseconds);
    this.#timers.add(timer);
  }

  /** Clears the timers; from now on none acts. */
  stop(): void {
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
  }
}
