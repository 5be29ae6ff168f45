// The port of the server the dev cloud's config describes. The docs' port is 7600, which the
// getting-started server a reader just started may hold: the config then names the next free one
// and says why, rather than a `cairn serve` that fails on EADDRINUSE (or client commands that reach
// the other server).
import { createServer } from 'node:net';

/** Whether nothing listens on 127.0.0.1:`port` right now. */
export function portIsFree(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * `preferred` when it is free, else the first free port above it (up to 100 tried), with a note
 * saying which port was taken; a CAIRN_CONFIG_INVALID-worded error when none is.
 */
export async function serverPort(preferred = 7600) {
  for (let port = preferred; port < preferred + 100; port += 1) {
    if (!(await portIsFree(port))) continue;
    if (port === preferred) return { port };
    return {
      port,
      note: `port ${preferred} is taken on 127.0.0.1 (another cairn serve, such as the getting-started one?): this config's server listens on ${port}; cairn commands run in its folder reach it there`,
    };
  }
  throw new Error(
    `[CAIRN_CONFIG_INVALID] no free port from ${preferred} to ${preferred + 99} on 127.0.0.1 for the server: stop what listens there, or set server.port in the printed config`,
  );
}
