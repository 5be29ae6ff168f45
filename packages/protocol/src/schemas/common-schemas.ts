import { z } from 'zod';

/**
 * An ISO 8601 UTC time with seconds, optional fraction and a `Z` offset, on a real calendar day
 * (leap years included): how every Cairn record writes time.
 */
const timestampPattern =
  /^(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|02-(?:0[1-9]|1\d|2[0-8])))T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?Z$/;

/** Whether `text` is a Cairn timestamp (see `timestampSchema`); cheap enough for a million entries. */
export function isTimestamp(text: unknown): text is string {
  if (typeof text !== 'string') return false;
  if (text === lastTimestamp) return true;
  if (!timestampPattern.test(text)) return false;
  lastTimestamp = text;
  return true;
}

// The last text that passed: entries written together share their time (the engine formats the
// time once a millisecond), and comparing with it costs a fraction of the pattern.
let lastTimestamp: string | undefined;

export const timestampSchema = z.string().regex(timestampPattern, 'must be an ISO 8601 UTC time such as 2026-11-22T10:00:00.000Z');

/** Lowercase hex of a SHA-256 hash (a Merkle root). */
export const hashHexSchema = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits (a SHA-256 hash)');

/** Standard base64 (with padding). */
export const base64Schema = z.base64('must be base64');

/** A whole number from 0. */
export const countSchema = z.int('must be a whole number').min(0, 'must not be negative');

/** A map of strings to strings, as env and labels. */
export const stringMapSchema = z.record(z.string(), z.string());
