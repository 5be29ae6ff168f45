export { CairnClient, cairnClientSettingsSchema, createCairnClient } from './cairn-client.ts';
export type { AuditEntryFilters, CairnClientSettings, ItemView, RunPageView, RunView, TokenView, WebhookDeliveryView, WebhookView } from './cairn-client.ts';
export const VERSION = '0.1.0';
