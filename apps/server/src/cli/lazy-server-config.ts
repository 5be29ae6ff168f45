import type { LoadedServerConfig } from '../config/load-server-config.ts';

/**
 * `loadServerConfig`, its module loaded only when a command reads a config: its schemas load the
 * engine, the identity provider's settings and their dependencies (a few hundred modules), which a
 * client command that only speaks HTTP never needs (see cli-commands.ts).
 */
export async function loadServerConfigLazily(
  options: Parameters<typeof import('../config/load-server-config.ts').loadServerConfig>[0],
): Promise<LoadedServerConfig> {
  const { loadServerConfig } = await import('../config/load-server-config.ts');
  return loadServerConfig(options);
}
