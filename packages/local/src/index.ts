export const VERSION = '0.1.0';
export { createLocalStorageProvider, LocalStorageProvider, localStorageProviderSettingsSchema } from './storage/local-storage-provider.ts';
export type { LocalStorageProviderSettings } from './storage/local-storage-provider.ts';
export { createLocalAuditAnchor, LocalAuditAnchor, localAuditAnchorSettingsSchema } from './anchor/local-audit-anchor.ts';
export type { LocalAuditAnchorSettings } from './anchor/local-audit-anchor.ts';
export { createLocalSigner, LocalSigner, localSignerSettingsSchema } from './signer/local-signer.ts';
export type { LocalSignerSettings } from './signer/local-signer.ts';
export { createLocalCipher, LocalCipher, localCipherSettingsSchema } from './cipher/local-cipher.ts';
export type { LocalCipherSettings } from './cipher/local-cipher.ts';
