import { z } from 'zod';

/** A file or directory path option: a non-empty string the file system can take (no NUL byte). */
export const filePathSchema = z
  .string({ error: 'must be a file system path (a string)' })
  .min(1, 'must not be empty')
  .refine((path) => !path.includes('\u0000'), 'must not contain a NUL character');
