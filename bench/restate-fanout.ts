// Restate's durable peer row: a durable-execution server (restate-server, RocksDB and its Bifrost
// log fsynced as shipped; see restate-server.ts) driving a Node service deployment over HTTP/2.
import type { RestatePeer } from './restate-server.ts';

export interface RestateFanoutResult {
  readonly wallMs: number;
  /** CPU time of the restate-server and the service deployment over the same span, every thread. */
  readonly cpuMs: number;
}

/**
 * `count` no-op items through Restate, in the engine's shape: one request to the ingress starts
 * one `fanout` invocation (the engine's one submitted run), which makes `count` durable calls to
 * the `item` handler at once and answers once all have; the server runs them as many at a time as
 * its invoker allows (see restate-service-child.ts for why not the bench's 50). Timed from the request to its answer, which the server sends once
 * the fan-out's end is in its log. The bench's own CPU (one HTTP request) is not counted.
 */
export async function restateFanout(peer: RestatePeer, count: number): Promise<RestateFanoutResult> {
  const cpuBefore = peer.cpuMilliseconds();
  const started = performance.now();
  const response = await fetch(`${peer.ingressUrl}/fanout/run`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(count),
  });
  const body = await response.text();
  const wallMs = performance.now() - started;
  const cpuMs = peer.cpuMilliseconds() - cpuBefore;
  if (!response.ok) throw new Error(`Restate's fan-out failed (${response.status}): ${body.slice(0, 500)}`);
  // Each item answers its own index: the sum says every item ran, once.
  const expected = (count * (count - 1)) / 2;
  if (Number(body) !== expected) throw new Error(`Restate's fan-out answered ${body.slice(0, 100)}, not the sum of its ${count} items' indices (${expected})`);
  return { wallMs, cpuMs };
}
