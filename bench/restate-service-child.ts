// The Restate peer's service deployment, in a Node process of its own so that its CPU time is
// counted with the restate-server's (both in one cpuacct cgroup) and not with the bench's. The
// SDK's endpoint on a plain-text HTTP/2 server on a free loopback port, which the restate-server
// reaches with HTTP/2 (its default for a deployment's `http://` address), one bidirectional
// stream per invocation. It prints `{"port": N}` once it listens, and ends on SIGTERM.
import { createServer } from 'node:http2';
import * as restate from '@restatedev/restate-sdk';

/** The fan-out's work item: a no-op handler that returns its index (the engine's items run `true`). */
const item = restate.service({
  name: 'item',
  handlers: {
    run: async (_context: restate.Context, index: number): Promise<number> => index,
  },
});

/**
 * The fan-out itself, the engine's shape: one request in (the engine's one submitted run of 10,000
 * items), and Restate's server dispatches the work, each item a durable call journaled by the
 * fan-out's invocation and run as an invocation of its own, its result journaled back. All calls
 * are made at once and awaited together, Restate's own fan-out: its server runs them as its
 * invoker allows (1,000 at once by default), as the engine runs a run's items `concurrency` at a
 * time. Kept 50 in flight by the handler instead (a window over `RestatePromise.race`), 1,000
 * items took 2.0–3.2× the wall and 2.0–2.6× the CPU here, as did 50 lanes of ingress calls to
 * `item` (1.7–2.2× the wall, without the callers' CPU): this is Restate's better showing.
 * Returns the sum of the items' results, which the bench checks (every item answered its own index).
 */
const fanout = restate.service({
  name: 'fanout',
  handlers: {
    run: async (context: restate.Context, count: number): Promise<number> => {
      const items = context.serviceClient(item);
      const results = await restate.RestatePromise.all(Array.from({ length: count }, (_, index) => items.run(index)));
      return results.reduce((sum, result) => sum + result, 0);
    },
  },
});

// Node's HTTP/2 sessions refuse new streams past 10 MB of buffered frames by default
// (`maxSessionMemory`): with the server's 128 streams a connection, the restate-server saw its
// sessions end ("h2 pool connection error: stream closed because of a broken pipe", 1,662 retried
// calls in three rounds of 3,000 items) and retried after backoff. A budget the fan-out fits in.
const server = createServer({ maxSessionMemory: 256 }, restate.createEndpointHandler({ services: [item, fanout] }));
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  // Open HTTP/2 sessions from the restate-server would hold `close` open: the process is done.
  setTimeout(() => process.exit(0), 200).unref();
});
