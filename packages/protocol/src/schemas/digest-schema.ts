import type { Digest } from '@cairn/core';
import { z } from 'zod';
import { isDigest } from '../json/digest.ts';

/** A content digest, `sha256:` and 64 lowercase hex digits, typed as `Digest`. */
export const digestSchema = z.custom<Digest>(isDigest, 'must be sha256: followed by 64 lowercase hex digits');
