export const VERSION = '0.1.0';
export { createLocalStorageProvider, LocalStorageProvider, localStorageProviderSettingsSchema } from './storage/local-storage-provider.ts';
export type { LocalStorageProviderSettings } from './storage/local-storage-provider.ts';
