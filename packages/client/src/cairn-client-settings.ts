import { parseSettings } from '@cairn/protocol/errors';
import { z } from 'zod';

/** Settings of `createCairnClient`. */
export const cairnClientSettingsSchema = z.strictObject({
  /** The server, e.g. `http://127.0.0.1:7600`. */
  baseUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL such as http://127.0.0.1:7600' }),
  /** A bearer token (`cairn token create`); none for a loopback-operator server. */
  token: z.string().min(1).optional(),
  /** How long to wait before reconnecting an event stream that dropped. */
  reconnectDelayMs: z.int().min(0).max(60_000).default(500),
  /**
   * How many times in a row an event stream may fail to reconnect before `events()` gives up with
   * CAIRN_SERVER_UNREACHABLE (a stream that reconnects starts the count again).
   */
  reconnectAttempts: z.int().min(0).max(1_000).default(10),
});

export type CairnClientSettings = z.input<typeof cairnClientSettingsSchema>;

/** The settings a client works with: `cairnClientSettingsSchema`'s output (defaults filled in). */
export type CheckedCairnClientSettings = z.output<typeof cairnClientSettingsSchema>;

/** The settings as the schema outputs them; throws CAIRN_CONFIG_INVALID naming every bad option. */
export function checkCairnClientSettings(settings: unknown): CheckedCairnClientSettings {
  return parseSettings(cairnClientSettingsSchema, settings, 'client');
}
