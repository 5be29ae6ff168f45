export { describeS3Location, s3ClientFor, s3LocationSettingsSchema, s3LocationSettingsShape } from './client/s3-connection.ts';
export type { S3LocationSettings } from './client/s3-connection.ts';
export const VERSION = '0.1.0';
