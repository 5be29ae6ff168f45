import { parseDuration } from '@cairn/protocol';
import type { ServerConfig } from '../config/server-config-schema.ts';
import type { HttpApiOptions } from './http-server.ts';

/** What `buildHttpApi` takes from the config's `server` section: one reading for `cairn serve`, the demo and the tests. */
export function httpApiSettingsOf(server: ServerConfig['server']): Omit<HttpApiOptions, 'composition' | 'logger'> {
  const { host, auth, allowedHosts, maxConnections, uploadLimitMiB, timeouts } = server;
  return {
    host,
    auth,
    allowedHosts,
    uploadLimitBytes: uploadLimitMiB * 1024 * 1024,
    ...(maxConnections === undefined ? {} : { maxConnections }),
    timeouts: {
      idleMs: parseDuration(timeouts.idle),
      headersMs: parseDuration(timeouts.headers),
      requestMs: parseDuration(timeouts.request),
      keepAliveMs: parseDuration(timeouts.keepAlive),
    },
  };
}
