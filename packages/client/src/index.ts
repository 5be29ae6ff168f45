export { CairnClient, cairnClientSettingsSchema, createCairnClient } from './cairn-client.ts';
export type {
  AuditEntryFilters,
  CairnClientSettings,
  ItemLogEnd,
  ItemLogLine,
  ItemView,
  RunPageView,
  RunView,
  TokenView,
  WebhookDeliveryView,
  WebhookView,
} from './cairn-client.ts';
export const VERSION = '0.1.0';
