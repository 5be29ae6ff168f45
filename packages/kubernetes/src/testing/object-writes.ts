// The API server's verbs on stored objects: create (with generateName and dry run), update (with the
// pod's immutable spec, a secret's `immutable`, a status subresource left alone), the status
// subresource's update, merge and JSON patches, and delete (graceful for a running pod, foreground,
// background and orphan propagation, preconditions, finalizers).
import { randomUUID, randomBytes } from 'node:crypto';
import { alreadyExists, badRequest, conflict, invalid, KubernetesStatusError, notFound } from './api-status.ts';
import { GarbageCollector } from './garbage-collector.ts';
import type { Kubelet } from './kubelet.ts';
import { clone, descriptors, isCustom, now, type KubernetesObject, type KubernetesTestResource, type ObjectMeta } from './kubernetes-resources.ts';
import type { KubernetesTestEndpointOptions } from './kubernetes-test-endpoint-options.ts';
import { jsonPatch, mergePatch, type JsonPatchOperation } from './object-patch.ts';
import type { KubernetesObjectStore } from './object-store.ts';
import { validateObject } from './object-validation.ts';
import { defaultPod, type PodSpec } from './pod-spec.ts';

/** The verbs, writing through the store; a pod's creation and deletion reach the kubelet. */
export class ObjectWrites {
  readonly #store: KubernetesObjectStore;
  readonly #kubelet: Kubelet;
  readonly #collector: GarbageCollector;
  readonly #garbageCollectionDelayMs: number;

  constructor(store: KubernetesObjectStore, kubelet: Kubelet, options: KubernetesTestEndpointOptions) {
    this.#store = store;
    this.#kubelet = kubelet;
    this.#collector = new GarbageCollector(store, this);
    this.#garbageCollectionDelayMs = options.garbageCollectionDelayMs ?? 10;
  }

  /** An owner is gone: the collector looks at its dependents after its delay. */
  ownerDeleted(uid: string): void {
    this.#store.after(this.#garbageCollectionDelayMs, () => this.#collector.collectDependentsOf(uid));
  }

  create(resource: KubernetesTestResource, body: Record<string, unknown>, dryRun: boolean): KubernetesObject {
    const descriptor = descriptors[resource];
    checkTypeMeta(resource, body);
    const metadata = (body['metadata'] ?? {}) as Partial<ObjectMeta>;
    if (metadata.namespace !== undefined && metadata.namespace !== this.#store.namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    if (metadata.resourceVersion !== undefined && metadata.resourceVersion !== '')
      throw badRequest('resourceVersion should not be set on objects to be created');
    const name = metadata.name || (metadata.generateName ? `${metadata.generateName}${randomBytes(4).toString('hex').slice(0, 5)}` : '');
    const causes = this.#store.validate(resource, { ...body, metadata: { ...metadata, ...(name ? { name } : {}) } });
    if (causes.length > 0) throw invalid(descriptor.kind, name, causes, descriptor.group);
    if (this.#store.objects[resource].has(name)) throw alreadyExists(resource, name, descriptor.group);
    const {
      uid: _uid,
      resourceVersion: _resourceVersion,
      creationTimestamp: _creationTimestamp,
      deletionTimestamp: _deletionTimestamp,
      deletionGracePeriodSeconds: _deletionGracePeriodSeconds,
      ...given
    } = metadata;
    const object = clone({
      ...body,
      apiVersion: descriptor.apiVersion,
      kind: descriptor.kind,
      metadata: {
        ...given,
        name,
        namespace: this.#store.namespace,
        uid: randomUUID(),
        resourceVersion: '',
        creationTimestamp: now(),
        ...(resource === 'networkpolicies' ? { generation: 1 } : {}),
      },
    }) as KubernetesObject;
    if (resource === 'secrets') normaliseSecret(object);
    if (resource === 'pods') defaultPod(object);
    // With a status subresource, a create's status is dropped: the controller writes it.
    if (isCustom(resource)) delete object['status'];
    if (dryRun) {
      this.#store.checkAnswer(resource, object);
      return this.#store.answer(resource, object);
    }
    this.#store.commit(resource, 'ADDED', object);
    // An owner that does not exist: the garbage collector deletes the dependent, as it would find.
    if ((object.metadata.ownerReferences ?? []).length > 0)
      this.#store.after(this.#garbageCollectionDelayMs, () => this.#collector.collectIfOrphaned(resource, name));
    if (resource === 'pods') this.#kubelet.admit(object);
    return this.#store.answer(resource, object);
  }

  update(resource: KubernetesTestResource, name: string, body: Record<string, unknown>): KubernetesObject {
    const descriptor = descriptors[resource];
    checkTypeMeta(resource, body);
    const current = this.#store.objects[resource].get(name);
    if (!current) throw notFound(resource, name, descriptor.group);
    const metadata = (body['metadata'] ?? {}) as Partial<ObjectMeta>;
    if (metadata.name !== undefined && metadata.name !== name)
      throw badRequest(`the name of the object (${metadata.name}) does not match the name on the URL (${name})`);
    if (metadata.namespace !== undefined && metadata.namespace !== this.#store.namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    if (metadata.uid !== undefined && metadata.uid !== current.metadata.uid) {
      throw new KubernetesStatusError(
        409,
        'Conflict',
        `Precondition failed: UID in precondition: ${metadata.uid}, UID in object meta: ${current.metadata.uid}`,
        {
          name,
          kind: resource,
        },
      );
    }
    if (metadata.resourceVersion !== undefined && metadata.resourceVersion !== '' && metadata.resourceVersion !== current.metadata.resourceVersion) {
      throw conflict(resource, name, descriptor.group);
    }
    const causes = this.#store.validate(resource, { ...body, metadata: { ...metadata, name } }, current);
    if (causes.length > 0) throw invalid(descriptor.kind, name, causes, descriptor.group);
    const next = clone({
      ...body,
      apiVersion: descriptor.apiVersion,
      kind: descriptor.kind,
      metadata: {
        ...metadata,
        name,
        namespace: this.#store.namespace,
        uid: current.metadata.uid,
        resourceVersion: current.metadata.resourceVersion,
        creationTimestamp: current.metadata.creationTimestamp,
        ...(current.metadata.deletionTimestamp ? { deletionTimestamp: current.metadata.deletionTimestamp } : {}),
        ...(current.metadata.deletionGracePeriodSeconds !== undefined ? { deletionGracePeriodSeconds: current.metadata.deletionGracePeriodSeconds } : {}),
      },
    }) as KubernetesObject;
    if (resource === 'secrets') {
      normaliseSecret(next);
      if (current['immutable'] === true && (JSON.stringify(next['data'] ?? {}) !== JSON.stringify(current['data'] ?? {}) || next['immutable'] !== true)) {
        throw invalid('Secret', name, [{ reason: 'FieldValueForbidden', message: 'Forbidden: field is immutable when `immutable` is set', field: 'data' }]);
      }
    }
    if (resource === 'pods') {
      // The status is the kubelet's (its own subresource); the spec is immutable but for images and a shorter deadline.
      defaultPod(next);
      next['status'] = current['status'];
      const spec = clone(current['spec']) as { containers: { image: string }[]; activeDeadlineSeconds?: number | undefined; nodeName?: string | undefined };
      const nextSpec = next['spec'] as typeof spec;
      nextSpec.nodeName ??= spec.nodeName;
      for (const [index, container] of spec.containers.entries()) if (nextSpec.containers[index]) container.image = nextSpec.containers[index].image;
      spec.activeDeadlineSeconds = nextSpec.activeDeadlineSeconds;
      if (JSON.stringify(canonical(spec)) !== JSON.stringify(canonical(nextSpec))) {
        throw invalid('Pod', name, [
          {
            reason: 'FieldValueForbidden',
            message:
              'Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
            field: 'spec',
          },
        ]);
      }
    }
    // With a status subresource, a write of the object leaves its status as it was.
    if (isCustom(resource)) {
      if (current['status'] === undefined) delete next['status'];
      else next['status'] = current['status'];
    }
    if (resource === 'networkpolicies') {
      const changed = JSON.stringify(canonical(next['spec'])) !== JSON.stringify(canonical(current['spec']));
      next.metadata.generation = (current.metadata.generation ?? 1) + (changed ? 1 : 0);
    }
    this.#store.commit(resource, 'MODIFIED', next, current);
    if (next.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0) this.removeWhenDone(resource, name);
    return this.#store.answer(resource, next);
  }

  /** PUT of the status subresource: only `status` changes, after the same checks as an update. */
  updateStatus(resource: KubernetesTestResource, name: string, body: Record<string, unknown>): KubernetesObject {
    const descriptor = descriptors[resource];
    checkTypeMeta(resource, body);
    const current = this.#store.objects[resource].get(name);
    if (!current) throw notFound(resource, name, descriptor.group);
    const metadata = (body['metadata'] ?? {}) as Partial<ObjectMeta>;
    if (metadata.resourceVersion !== undefined && metadata.resourceVersion !== '' && metadata.resourceVersion !== current.metadata.resourceVersion) {
      throw conflict(resource, name, descriptor.group);
    }
    const next = clone(current);
    if (body['status'] === undefined) delete next['status'];
    else next['status'] = clone(body['status']);
    const causes = this.#store.validate(resource, next, current);
    if (causes.length > 0) throw invalid(descriptor.kind, name, causes, descriptor.group);
    this.#store.commit(resource, 'MODIFIED', next, current);
    return this.#store.answer(resource, next);
  }

  patch(resource: KubernetesTestResource, name: string, patch: Record<string, unknown> | unknown[], contentType: string): KubernetesObject {
    const current = this.#store.objects[resource].get(name);
    if (!current) throw notFound(resource, name, descriptors[resource].group);
    const type = contentType.split(';')[0]!.trim();
    let patched: unknown;
    if (type === 'application/merge-patch+json' || type === 'application/strategic-merge-patch+json') {
      // A strategic merge patch merges lists by their keys; here they are replaced whole (as a merge patch does).
      if (Array.isArray(patch)) throw badRequest('a merge patch must be a JSON object');
      patched = mergePatch(clone(current), patch);
    } else if (type === 'application/json-patch+json') {
      if (!Array.isArray(patch)) throw badRequest('a JSON patch must be a JSON array of operations');
      patched = jsonPatch(clone(current), patch as JsonPatchOperation[]);
    } else {
      throw new KubernetesStatusError(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`,
      );
    }
    return this.update(resource, name, patched as Record<string, unknown>);
  }

  delete(
    resource: KubernetesTestResource,
    name: string,
    query: Readonly<Record<string, string>>,
    body: Record<string, unknown> | undefined,
  ): { status: number; body: unknown } {
    const descriptor = descriptors[resource];
    if (body !== undefined) {
      const causes = validateObject('DeleteOptions', body);
      if (causes.length > 0) throw invalid('DeleteOptions', '', causes);
    }
    const options = { ...(body ?? {}) } as {
      propagationPolicy?: string;
      gracePeriodSeconds?: number;
      orphanDependents?: boolean;
      preconditions?: { uid?: string; resourceVersion?: string };
    };
    if (query['propagationPolicy'] !== undefined) options.propagationPolicy = query['propagationPolicy'];
    if (query['gracePeriodSeconds'] !== undefined) options.gracePeriodSeconds = Number(query['gracePeriodSeconds']);
    if (query['orphanDependents'] !== undefined) options.orphanDependents = query['orphanDependents'] === 'true';
    const policy = options.propagationPolicy ?? (options.orphanDependents ? 'Orphan' : 'Background');
    if (!['Foreground', 'Background', 'Orphan'].includes(policy)) {
      throw invalid('DeleteOptions', '', [
        {
          reason: 'FieldValueNotSupported',
          message: `Unsupported value: ${JSON.stringify(policy)}: supported values: "Foreground", "Background", "Orphan"`,
          field: 'propagationPolicy',
        },
      ]);
    }
    const current = this.#store.objects[resource].get(name);
    if (!current) throw notFound(resource, name, descriptor.group);
    if (options.preconditions?.uid !== undefined && options.preconditions.uid !== current.metadata.uid) {
      throw new KubernetesStatusError(
        409,
        'Conflict',
        `Precondition failed: UID in precondition: ${options.preconditions.uid}, UID in object meta: ${current.metadata.uid}`,
        {
          name,
          kind: resource,
        },
      );
    }
    if (options.preconditions?.resourceVersion !== undefined && options.preconditions.resourceVersion !== current.metadata.resourceVersion) {
      throw conflict(resource, name, descriptor.group);
    }
    if (policy === 'Orphan') this.#collector.orphanDependentsOf(current.metadata.uid);
    const runtime = resource === 'pods' ? this.#kubelet.runtimeOf(current.metadata.uid) : undefined;
    // The pod strategy's rule: graceful for a pod bound to a node that has not ended, unless told 0.
    const phase = (current['status'] as { phase?: string } | undefined)?.phase;
    const spec = current['spec'] as PodSpec | undefined;
    const graceSeconds =
      options.gracePeriodSeconds ?? (current['spec'] as { terminationGracePeriodSeconds?: number } | undefined)?.terminationGracePeriodSeconds ?? 30;
    const running = resource === 'pods' && spec?.nodeName !== undefined && phase !== 'Succeeded' && phase !== 'Failed' && graceSeconds > 0;
    const foreground = policy === 'Foreground' && this.#store.dependentsOf(current.metadata.uid).length > 0;
    if (!current.metadata.deletionTimestamp && (foreground || running || (current.metadata.finalizers ?? []).length > 0)) {
      // Graceful: the object stays, marked, until the kubelet has stopped it and its finalizers are gone.
      const marked = clone(current);
      marked.metadata.deletionTimestamp = new Date(Date.now() + (running ? graceSeconds * 1_000 : 0)).toISOString().replace(/\.\d{3}Z$/, 'Z');
      marked.metadata.deletionGracePeriodSeconds = running ? graceSeconds : 0;
      if (foreground) marked.metadata.finalizers = [...new Set([...(marked.metadata.finalizers ?? []), 'foregroundDeletion'])];
      this.#store.commit(resource, 'MODIFIED', marked, current);
      if (foreground) for (const dependent of this.#store.dependentsOf(current.metadata.uid)) this.deleteNow(dependent.resource, dependent.name, 'Background');
      if (runtime) this.#kubelet.stopPod(runtime, graceSeconds * 1_000);
      this.removeWhenDone(resource, name);
      if (!this.#store.objects[resource].has(name)) return { status: 200, body: this.#store.answer(resource, { ...marked }) };
      const answer = this.#store.answer(resource, this.#store.objects[resource].get(name)!);
      return { status: resource === 'pods' ? 200 : 202, body: answer };
    }
    if (current.metadata.deletionTimestamp) return { status: 202, body: this.#store.answer(resource, current) };
    if (runtime) this.#kubelet.stopPod(runtime, 0);
    const removed = this.#remove(resource, name);
    // A pod's deletion answers the pod; other kinds answer a Success Status.
    if (resource === 'pods') return { status: 200, body: this.#store.answer(resource, removed) };
    return {
      status: 200,
      body: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Success',
        details: { name, ...(descriptor.group ? { group: descriptor.group } : {}), kind: resource, uid: removed.metadata.uid },
      },
    };
  }

  /** Deletes an object on the server's own account (the garbage collector's), no grace beyond the pod's. */
  deleteNow(resource: KubernetesTestResource, name: string, policy: 'Background' | 'Foreground'): void {
    const current = this.#store.objects[resource].get(name);
    if (!current || current.metadata.deletionTimestamp) return;
    try {
      this.delete(resource, name, { propagationPolicy: policy }, undefined);
    } catch (error) {
      if (!(error instanceof KubernetesStatusError && error.code === 404)) throw error;
    }
  }

  #remove(resource: KubernetesTestResource, name: string): KubernetesObject {
    const current = this.#store.objects[resource].get(name)!;
    const removed = clone(current);
    this.#store.commit(resource, 'DELETED', removed, current);
    if (resource === 'pods') this.#kubelet.forget(current);
    return removed;
  }

  /** Removes a marked object once nothing holds it: its containers stopped, its dependents gone (foreground), its finalizers cleared. */
  removeWhenDone(resource: KubernetesTestResource, name: string): void {
    const object = this.#store.objects[resource].get(name);
    if (!object?.metadata.deletionTimestamp) return;
    const runtime = resource === 'pods' ? this.#kubelet.runtimeOf(object.metadata.uid) : undefined;
    if (runtime?.containers.some((container) => container.alive)) return;
    let finalizers = object.metadata.finalizers ?? [];
    if (finalizers.includes('foregroundDeletion')) {
      const blocking = this.#store.dependentsOf(object.metadata.uid).filter((dependent) => dependent.reference.blockOwnerDeletion === true);
      if (blocking.length > 0) return;
      finalizers = finalizers.filter((finalizer) => finalizer !== 'foregroundDeletion');
      const next = clone(object);
      next.metadata.finalizers = finalizers;
      if (finalizers.length === 0) delete next.metadata.finalizers;
      this.#store.commit(resource, 'MODIFIED', next, object);
    }
    if (finalizers.length === 0) this.#remove(resource, name);
  }
}

/** An object whose apiVersion or kind names another resource than the URL's is refused, as the server does. */
function checkTypeMeta(resource: KubernetesTestResource, body: Record<string, unknown>): void {
  const descriptor = descriptors[resource];
  if (body['apiVersion'] !== undefined && body['apiVersion'] !== descriptor.apiVersion) {
    throw badRequest(`the API version in the data (${String(body['apiVersion'])}) does not match the expected API version (${descriptor.apiVersion})`);
  }
  if (body['kind'] !== undefined && body['kind'] !== descriptor.kind) {
    throw badRequest(`the kind in the data (${String(body['kind'])}) does not match the expected kind (${descriptor.kind})`);
  }
}

/** A secret's stringData is written into data (base64) and dropped; its type defaults to Opaque. */
function normaliseSecret(secret: KubernetesObject): void {
  const stringData = secret['stringData'] as Record<string, string> | undefined;
  if (stringData) {
    secret['data'] = {
      ...((secret['data'] ?? {}) as Record<string, string>),
      ...Object.fromEntries(Object.entries(stringData).map(([key, value]) => [key, Buffer.from(value, 'utf8').toString('base64')])),
    };
    delete secret['stringData'];
  }
  secret['type'] ??= 'Opaque';
}

/** JSON with sorted keys, for comparing specs whatever their key order. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}
