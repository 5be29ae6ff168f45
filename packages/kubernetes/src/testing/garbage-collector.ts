// The garbage collector: an object whose owners are all gone is deleted (in the background), one with
// some left loses the references to those gone; an owner deleted with Orphan leaves its dependents
// without the reference; an owner in foreground deletion waits for its blocking dependents.
import { clone, type KubernetesTestResource } from './kubernetes-resources.ts';
import type { KubernetesObjectStore } from './object-store.ts';

/** The verbs the collector deletes and removes with (`ObjectWrites`'). */
export interface CollectorVerbs {
  deleteNow(resource: KubernetesTestResource, name: string, policy: 'Background' | 'Foreground'): void;
  removeWhenDone(resource: KubernetesTestResource, name: string): void;
}

export class GarbageCollector {
  readonly #store: KubernetesObjectStore;
  readonly #verbs: CollectorVerbs;

  constructor(store: KubernetesObjectStore, verbs: CollectorVerbs) {
    this.#store = store;
    this.#verbs = verbs;
  }

  /** After an owner is gone: a dependent with no owner left is deleted (background), one with others left loses the reference. */
  collectDependentsOf(uid: string): void {
    if (this.#store.stopped) return;
    for (const dependent of this.#store.dependentsOf(uid)) this.collectIfOrphaned(dependent.resource, dependent.name);
    // An owner in foreground deletion waits for its dependents: look again at those marked.
    for (const resource of Object.keys(this.#store.objects) as KubernetesTestResource[]) {
      for (const object of [...this.#store.objects[resource].values()]) {
        if (object.metadata.finalizers?.includes('foregroundDeletion')) this.#verbs.removeWhenDone(resource, object.metadata.name);
      }
    }
  }

  /** Deletes the object if none of its owners is left, or drops the references to those gone. */
  collectIfOrphaned(resource: KubernetesTestResource, name: string): void {
    const object = this.#store.objects[resource].get(name);
    if (!object || this.#store.stopped) return;
    const references = object.metadata.ownerReferences ?? [];
    const living = references.filter((reference) => this.#store.ownerExists(reference.uid));
    if (references.length === 0 || living.length === references.length) return;
    if (living.length === 0) {
      this.#verbs.deleteNow(resource, name, 'Background');
      return;
    }
    const next = clone(object);
    next.metadata.ownerReferences = living;
    this.#store.commit(resource, 'MODIFIED', next, object);
  }

  /** The Orphan policy: the owner's dependents lose their reference to it. */
  orphanDependentsOf(uid: string): void {
    for (const dependent of this.#store.dependentsOf(uid)) {
      const object = this.#store.objects[dependent.resource].get(dependent.name)!;
      const next = clone(object);
      next.metadata.ownerReferences = (next.metadata.ownerReferences ?? []).filter((reference) => reference.uid !== uid);
      if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
      this.#store.commit(dependent.resource, 'MODIFIED', next, object);
    }
  }
}
