export { describeS3Location, s3ClientFor, s3LocationSettingsSchema, s3LocationSettingsShape } from './client/s3-connection.ts';
export type { S3LocationSettings } from './client/s3-connection.ts';
export { anchorObjectKey } from './anchor/anchor-object-key.ts';
export { parseReceiptLocation, receiptLocation } from './anchor/receipt-location.ts';
export { createS3ObjectLockAnchor, S3ObjectLockAnchor, s3ObjectLockAnchorSettingsSchema } from './anchor/s3-object-lock-anchor.ts';
export type { S3ObjectLockAnchorProbe, S3ObjectLockAnchorSettings } from './anchor/s3-object-lock-anchor.ts';
export const VERSION = '0.1.0';
