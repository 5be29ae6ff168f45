import { checkCairnClientSettings, type CairnClientSettings } from './cairn-client-settings.ts';
import { CairnHttpClient } from './cairn-http-client.ts';

/**
 * The Cairn server's HTTP API as typed calls (every call is `CairnHttpClient`'s), its settings
 * checked by `cairnClientSettingsSchema` as it is constructed.
 */
export class CairnClient extends CairnHttpClient {
  constructor(settings: CairnClientSettings) {
    super(checkCairnClientSettings(settings));
  }
}

/** Builds a client; throws CAIRN_CONFIG_INVALID naming every bad option. */
export function createCairnClient(settings: CairnClientSettings): CairnClient {
  return new CairnClient(settings);
}
