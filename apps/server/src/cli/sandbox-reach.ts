// Where the server's sandboxes must reach their work root: the check itself is @cairn/local's (runners make it too).
export { sandboxReachRefusal } from '@cairn/local';
import type { LoadedServerConfig } from '../config/load-server-config.ts';

/** Whether the config runs items in bubblewrap sandboxes on this machine: only those must reach the work root. */
export function sandboxesOnThisMachine(loaded: LoadedServerConfig): boolean {
  return loaded.config.executor.kind === 'local' && loaded.config.executor.sandbox === 'bubblewrap';
}

/** The option that places the config's work root, for an error to name. */
export function workRootOption(loaded: LoadedServerConfig): string {
  return loaded.config.executor.kind === 'local' && loaded.config.executor.workRoot !== undefined ? 'config.executor.workRoot' : 'config.dataDirectory';
}
