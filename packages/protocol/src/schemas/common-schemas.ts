import { z } from 'zod';

/** An ISO 8601 UTC timestamp with a `Z` offset, as every Cairn record writes time. */
export const timestampSchema = z.iso.datetime({ message: 'must be an ISO 8601 UTC time such as 2026-11-22T10:00:00.000Z' });

/** Lowercase hex of a SHA-256 hash (a Merkle root). */
export const hashHexSchema = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits (a SHA-256 hash)');

/** Standard base64 (with padding). */
export const base64Schema = z.base64('must be base64');

/** A whole number from 0. */
export const countSchema = z.int('must be a whole number').min(0, 'must not be negative');

/** A map of strings to strings, as env and labels. */
export const stringMapSchema = z.record(z.string(), z.string());
