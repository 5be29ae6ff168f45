// `node:worker_threads` for the browser build of the verifier: its Merkle walk uses a second
// thread only past 50,000 leaves (parallel-multi-inclusion.ts), which a run's bundle in the page
// does not reach; should one, it says so rather than walk wrongly.
export class Worker {
  constructor() {
    throw new Error('the in-page verifier walks bundles of up to 50,000 entries: verify this one with cairn verify');
  }
}
export const parentPort = null;

/** Taken only once a Worker has started, so never in the page either. */
export function receiveMessageOnPort(): never {
  throw new Error('the in-page verifier walks bundles of up to 50,000 entries: verify this one with cairn verify');
}
