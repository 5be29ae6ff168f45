// The API server's watches: newline-delimited JSON events from the history kept (etcd's revisions,
// compacted past `watchHistoryLimit`), a 410 ERROR event for a resourceVersion older than that, and
// bookmarks; each open watch is a chunked response that ends on its timeout or when a test drops it.
import type { ServerResponse } from 'node:http';
import { badRequest, expired } from './api-status.ts';
import { descriptors, type KubernetesObject, type KubernetesTestResource } from './kubernetes-resources.ts';
import { selection } from './object-selection.ts';

/** One change, under the revision that made it. */
export interface WatchEvent {
  readonly revision: number;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly resource: KubernetesTestResource;
  readonly object: KubernetesObject;
  readonly previous: KubernetesObject | undefined;
}

interface OpenWatch {
  readonly resource: KubernetesTestResource;
  readonly matches: (object: KubernetesObject) => boolean;
  readonly response: ServerResponse;
  readonly timers: NodeJS.Timeout[];
}

/** The open watches and the history they replay from. */
export class WatchStreams {
  readonly #watches = new Set<OpenWatch>();
  readonly #history: WatchEvent[] = [];
  #compactedThrough = 1;
  readonly #options: WatchStreamsOptions;

  constructor(options: WatchStreamsOptions) {
    this.#options = options;
  }

  /** How many watches are open now. */
  get size(): number {
    return this.#watches.size;
  }

  /** Keeps a change in the history (dropping the oldest past the limit, as compaction does) and sends it to the open watches. */
  record(event: WatchEvent): void {
    this.#history.push(event);
    while (this.#history.length > this.#options.historyLimit) this.#compactedThrough = this.#history.shift()!.revision;
    for (const watch of this.#watches) this.#deliver(watch, event);
  }

  /** Forgets every event so far, as etcd's compaction does: a watch from an older resourceVersion gets 410 Expired. */
  compact(): void {
    this.#history.length = 0;
    this.#compactedThrough = this.#options.revision();
  }

  /** Ends every open watch (`end`: the server closes the stream; `reset`: the connection is cut). Returns how many. */
  closeAll(how: 'end' | 'reset'): number {
    const count = this.#watches.size;
    for (const watch of [...this.#watches]) this.#closeWatch(watch, how);
    return count;
  }

  /** Answers a watch request on `response`, from `objects` (the resource's stored objects) or from the history. */
  open(
    resource: KubernetesTestResource,
    name: string | undefined,
    query: Readonly<Record<string, string>>,
    objects: ReadonlyMap<string, KubernetesObject>,
    recorded: { status: number },
    response: ServerResponse,
  ): void {
    const selected = selection(query);
    const matches = name === undefined ? selected : (object: KubernetesObject) => object.metadata.name === name && selected(object);
    const requested = query['resourceVersion'];
    if (requested !== undefined && requested !== '' && requested !== '0' && !/^\d+$/.test(requested)) {
      throw badRequest(`resourceVersion: Invalid value: ${JSON.stringify(requested)}: must be a number`);
    }
    recorded.status = 200;
    response.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache, private' });
    response.flushHeaders();
    const watch: OpenWatch = { resource, matches, response, timers: [] };
    const send = (event: unknown) => response.write(`${JSON.stringify(event)}\n`);
    if (requested === undefined || requested === '' || requested === '0') {
      // "Get state and start at most recent": every object as ADDED, then what happens next.
      for (const object of [...objects.values()].filter(matches)) send({ type: 'ADDED', object: this.#options.answer(resource, object) });
    } else {
      const since = Number(requested);
      if (since < this.#compactedThrough) {
        // The watch cache answers 200 and sends the 410 as an ERROR event, then ends the stream.
        send({ type: 'ERROR', object: expired(requested, this.#compactedThrough + 1).status() });
        response.end();
        return;
      }
      for (const event of this.#history) if (event.revision > since && event.resource === resource) this.#deliver(watch, event);
    }
    if (query['allowWatchBookmarks'] === 'true') {
      const interval = setInterval(() => send(this.#bookmark(resource)), this.#options.bookmarkIntervalMs);
      watch.timers.push(interval);
    }
    const timeoutSeconds = Number(query['timeoutSeconds'] ?? 0);
    if (timeoutSeconds > 0) watch.timers.push(setTimeout(() => this.#closeWatch(watch, 'end'), timeoutSeconds * 1_000));
    this.#watches.add(watch);
    response.once('close', () => this.#closeWatch(watch, 'end'));
  }

  #bookmark(resource: KubernetesTestResource): Record<string, unknown> {
    return {
      type: 'BOOKMARK',
      object: {
        kind: descriptors[resource].kind,
        apiVersion: descriptors[resource].apiVersion,
        metadata: { resourceVersion: String(this.#options.revision()) },
      },
    };
  }

  /** Sends an event to a watch as the watch cache does for a selector: a change into or out of it is ADDED or DELETED. */
  #deliver(watch: OpenWatch, event: WatchEvent): void {
    if (event.resource !== watch.resource) return;
    const now = watch.matches(event.object);
    const before = event.previous !== undefined && watch.matches(event.previous);
    let type: WatchEvent['type'] | undefined;
    if (event.type === 'DELETED') type = now ? 'DELETED' : undefined;
    else if (event.type === 'ADDED') type = now ? 'ADDED' : undefined;
    else type = now && before ? 'MODIFIED' : now ? 'ADDED' : before ? 'DELETED' : undefined;
    if (type === undefined) return;
    watch.response.write(`${JSON.stringify({ type, object: this.#options.answer(event.resource, event.object) })}\n`);
  }

  #closeWatch(watch: OpenWatch, how: 'end' | 'reset'): void {
    if (!this.#watches.delete(watch)) return;
    for (const timer of watch.timers) clearTimeout(timer);
    if (how === 'reset') watch.response.socket?.destroy();
    else watch.response.end();
  }
}

interface WatchStreamsOptions {
  /** How many events the history keeps. */
  readonly historyLimit: number;
  /** How often a watch that allows bookmarks gets one. */
  readonly bookmarkIntervalMs: number;
  /** The current revision (the last write's). */
  readonly revision: () => number;
  /** An object as the endpoint answers it (checked against its schema, copied). */
  readonly answer: (resource: KubernetesTestResource, object: KubernetesObject) => KubernetesObject;
}
