import type { CairnClientSettings } from './cairn-client-settings.ts';
import { CairnHttpClient } from './cairn-http-client.ts';
import { quicklyCheckedSettings } from './quickly-checked-settings.ts';

/**
 * Builds a client as `createCairnClient` does, the same settings accepted and refused with the same
 * CAIRN_CONFIG_INVALID, without loading zod for settings that are plainly right (the `cairn` CLI's
 * start: zod alone costs more than the rest of a command). Settings the quick check cannot vouch
 * for are checked by `cairnClientSettingsSchema`, imported then; hence a promise.
 */
export async function openCairnClient(settings: CairnClientSettings): Promise<CairnHttpClient> {
  const checked = quicklyCheckedSettings(settings) ?? (await import('./cairn-client-settings.ts')).checkCairnClientSettings(settings);
  return new CairnHttpClient(checked);
}
