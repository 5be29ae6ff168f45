import type { EvidenceBundleV1 } from '@cairn/core';
import { canonicalJson, evidenceBundleSchema, formatJsonPath } from '@cairn/protocol';
import { z } from 'zod';
import { auditEntryProblem } from '../entries/audit-entry-problem.ts';

/** A bundle as read, or why it could not be read at all. */
export type ReadBundle = { readonly ok: true; readonly bundle: EvidenceBundleV1 } | { readonly ok: false; readonly detail: string };

const decoder = new TextDecoder('utf-8', { fatal: true });

// Entries are checked by hand (`auditEntryProblem`, equal to the schema): a bundle may hold a
// million of them, and the schema would cost most of the verification time.
const bundleShellSchema = evidenceBundleSchema.extend({ entries: z.array(z.unknown()) });

/**
 * Reads a bundle given as bytes, text or an already parsed value. Bytes and text must be exactly
 * the canonical JSON of a valid `cairn.bundle/v1` document: a bundle has one byte form, so any
 * edit that keeps the meaning (spaces, escapes, key order) is still an edit and is refused.
 */
export function readBundle(input: Uint8Array | string | unknown): ReadBundle {
  let value: unknown = input;
  let text: string | undefined;
  if (input instanceof Uint8Array) {
    try {
      text = decoder.decode(input);
    } catch {
      return { ok: false, detail: 'the bundle is not UTF-8 text' };
    }
  } else if (typeof input === 'string') {
    text = input;
  }
  if (text !== undefined) {
    try {
      value = JSON.parse(text);
    } catch (error) {
      return { ok: false, detail: `the bundle is not JSON: ${(error as Error).message}` };
    }
  }
  const parsed = bundleShellSchema.safeParse(value);
  if (!parsed.success) {
    const [issue] = parsed.error.issues;
    return { ok: false, detail: `${formatJsonPath(issue!.path)}: ${issue!.message}` };
  }
  for (const [position, entry] of parsed.data.entries.entries()) {
    const problem = auditEntryProblem(entry);
    if (problem !== undefined) return { ok: false, detail: `$.entries[${position}]${problem}` };
  }
  const bundle = parsed.data as EvidenceBundleV1;
  if (text !== undefined) {
    const canonical = canonicalJson(bundle);
    if (canonical !== text) {
      let offset = 0;
      while (offset < text.length && text[offset] === canonical[offset]) offset++;
      return { ok: false, detail: `the bundle is not in canonical JSON form (first difference at character ${offset}); it was edited after export` };
    }
  }
  return { ok: true, bundle };
}
