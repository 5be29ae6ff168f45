/**
 * The uids sandboxes take by default (local.executor uids): 200000..249999. Outside the local
 * executor, the server refuses loopback-operator requests from these uids (a sandbox is never the
 * operator).
 */
export const defaultSandboxUids: { readonly first: number; readonly count: number } = { first: 200_000, count: 50_000 };

/** Whether `uid` is one of the range's. */
export function isSandboxUid(uid: number, range: { readonly first: number; readonly count: number } = defaultSandboxUids): boolean {
  return uid >= range.first && uid < range.first + range.count;
}

/**
 * Hands out unprivileged uids for sandboxes in turn from a range, starting at a random place so a
 * restarted server does not begin with the uids its predecessor's sandboxes had. A uid comes back
 * round only after `count` other sandboxes, by which time the one that had it has long ended.
 */
export class SandboxUids {
  readonly #first: number;
  readonly #count: number;
  #next: number;

  constructor(first: number, count: number) {
    this.#first = first;
    this.#count = count;
    this.#next = Math.floor(Math.random() * count);
  }

  next(): number {
    const uid = this.#first + this.#next;
    this.#next = (this.#next + 1) % this.#count;
    return uid;
  }
}
