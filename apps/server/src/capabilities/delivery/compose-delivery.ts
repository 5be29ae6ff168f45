import type { Logger, SignerV1, StorageProviderV1 } from '@cairn/core';
import type { EngineService } from '@cairn/engine';
import type { ServerConfig } from '../../config/server-config-schema.ts';
import { DeliveredTips } from './delivered-tips.ts';
import { DeliveryExecutor } from './delivery-executor.ts';
import { ServerForges } from './server-forges.ts';

/** Deliveries of a server with forges: the executor deliver items run on, and the forges (which workspaces are fetched from too). */
export interface ServerDelivery {
  readonly executor: DeliveryExecutor;
  readonly forges: ServerForges;
}

/**
 * The deliver executor over the config's `forges:` (checked now: a bad option refuses the start,
 * naming it), or undefined when there are none. Its forges read their tokens from the server's
 * secrets through `service`, asked only when a delivery runs.
 */
export async function composeDelivery(
  config: Pick<ServerConfig, 'forges' | 'server' | 'engine'>,
  seams: { readonly storage: StorageProviderV1; readonly signer: SignerV1; readonly service: () => EngineService; readonly logger?: Logger },
): Promise<ServerDelivery | undefined> {
  if (Object.keys(config.forges).length === 0) return undefined;
  const forges = await ServerForges.load(config.forges, (name) => seams.service().modelCalls.revealSecret(name));
  const executor = new DeliveryExecutor(
    {
      service: seams.service,
      storage: seams.storage,
      signer: seams.signer,
      origin: config.engine.origin,
      forges,
      tips: new DeliveredTips(seams.storage),
      ...(config.server.publicUrl === undefined ? {} : { publicUrl: config.server.publicUrl }),
    },
    seams.logger,
  );
  return { executor, forges };
}
