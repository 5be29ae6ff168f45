export { describeS3Location, s3ClientFor, s3LocationSettingsSchema, s3LocationSettingsShape } from './client/s3-connection.ts';
export type { S3LocationSettings } from './client/s3-connection.ts';
export { createS3StorageProvider, S3StorageProvider, s3StorageProviderSettingsSchema } from './storage/s3-storage-provider.ts';
export type { S3StorageProbe, S3StorageProviderSettings } from './storage/s3-storage-provider.ts';
export { s3EncryptionSchema } from './storage/s3-encryption.ts';
export type { S3Encryption } from './storage/s3-encryption.ts';
export const VERSION = '0.1.0';
