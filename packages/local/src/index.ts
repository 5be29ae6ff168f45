export const VERSION = '0.1.0';
export { createLocalStorageProvider, LocalStorageProvider, localStorageProviderSettingsSchema } from './storage/local-storage-provider.ts';
export type { LocalStorageProviderSettings } from './storage/local-storage-provider.ts';
export { createLocalAuditAnchor, LocalAuditAnchor, localAuditAnchorSettingsSchema } from './anchor/local-audit-anchor.ts';
export type { LocalAuditAnchorSettings } from './anchor/local-audit-anchor.ts';
