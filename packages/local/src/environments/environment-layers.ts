import { join } from 'node:path';
import { CairnError, environmentDiskBytes } from '@cairn/protocol';
import type { WorkspaceEnvironmentRequest } from '@cairn/worker';
import type { EnvironmentCache, HeldEnvironment } from './environment-cache.ts';
import { environmentKey } from './environment-key.ts';
import { runEnvironmentSetup, type EnvironmentSetupHost } from './environment-setup.ts';

/** A setup's own limits when its spec gives none (ADR 0056). */
export const environmentDefaults = { timeoutSeconds: 900, diskBytes: 4_294_967_296 } as const;

/**
 * What an attempt that needs an environment tells its workspace layers: the spec, the item's
 * network (an allow-list gives the setup its own proxy; `true` is refused, see `hold`) and secrets.
 */
export type EnvironmentRequest = WorkspaceEnvironmentRequest;

/**
 * Environment layers for the local executor: the key of an attempt's environment over its snapshot
 * tree, and the layer of that key from the cache, built by running the setup when the host has
 * none (one setup per key at a time; see EnvironmentCache).
 */
export class EnvironmentLayers {
  readonly cache: EnvironmentCache;
  readonly #host: EnvironmentSetupHost;

  constructor(cache: EnvironmentCache, host: EnvironmentSetupHost) {
    this.cache = cache;
    this.#host = host;
  }

  /**
   * Holds the layer of `request`'s environment over `tree` for the attempt folder `holder`, built as
   * `uid` when missing. Throws CAIRN_ENVIRONMENT_* when its setup fails (now, or lately for the
   * same key), CAIRN_EXECUTOR_START_FAILED for a setup this host will not run.
   */
  async hold(request: EnvironmentRequest & { readonly tree: string; readonly holder: string; readonly uid: number }): Promise<HeldEnvironment> {
    const { spec } = request;
    // A layer every attempt with the key shares is built with no more network than the spec lists.
    if (request.network === true) {
      throw new CairnError(
        'CAIRN_EXECUTOR_START_FAILED',
        'An environment setup runs with no network or with an allow-list, never the whole internet: its layer is shared by every attempt with its key. Give the item network: { allow: [...] } with the hosts the setup needs (its registry).',
        { path: 'network' },
      );
    }
    const key = await environmentKey(request.tree, spec);
    const diskBytes = spec.diskLimit === undefined ? environmentDefaults.diskBytes : environmentDiskBytes(spec.diskLimit);
    if (diskBytes === undefined)
      throw new CairnError('CAIRN_RUN_SPEC_INVALID', `environment.diskLimit ${JSON.stringify(spec.diskLimit)} is not a size.`, {
        path: 'environment.diskLimit',
      });
    const timeoutMs = (spec.timeoutSeconds ?? environmentDefaults.timeoutSeconds) * 1_000;
    return this.cache.hold({
      digest: key.digest,
      holder: request.holder,
      setupTimeoutMs: timeoutMs,
      build: (output) =>
        runEnvironmentSetup(
          {
            tree: request.tree,
            argv: spec.setup.argv,
            timeoutMs,
            diskBytes,
            scratch: join(request.holder, 'environment-setup'),
            output,
            uid: request.uid,
            ...(typeof request.network === 'object' ? { network: request.network } : {}),
            secrets: request.secrets,
          },
          this.#host,
        ),
    });
  }
}
