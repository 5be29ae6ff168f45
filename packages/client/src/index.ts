export { CairnClient, cairnClientSettingsSchema, createCairnClient } from './cairn-client.ts';
export type { CairnClientSettings, ItemView, RunView, TokenView } from './cairn-client.ts';
export const VERSION = '0.1.0';
