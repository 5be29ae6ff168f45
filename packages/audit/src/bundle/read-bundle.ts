import type { DsseEnvelope, EvidenceBundleV1 } from '@cairn/core';
import { canonicalJson, evidenceBundleSchema, formatJsonPath } from '@cairn/protocol';
import { z } from 'zod';
import { auditEntryProblem } from '../entries/audit-entry-problem.ts';
import { readCheckpoint } from './build-evidence-bundle.ts';
import { bundleLimits, type BundleLimits } from './bundle-limits.ts';
import { BundleStructureScanner } from './bundle-structure-scanner.ts';

/** A bundle as read, or why it could not be read at all. */
export type ReadBundle = { readonly ok: true; readonly bundle: EvidenceBundleV1 } | { readonly ok: false; readonly detail: string };

const decoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

// Entries are checked by hand (`auditEntryProblem`, equal to the schema): a bundle may hold a
// million of them, and the schema would cost most of the verification time.
const bundleShellSchema = evidenceBundleSchema.extend({ entries: z.array(z.unknown()) });

/**
 * Reads a bundle given as bytes, text or an already parsed value. Bytes and text must be exactly
 * the canonical JSON of a valid `cairn.bundle/v1` document: a bundle has one byte form, so any
 * edit that keeps the meaning (spaces, escapes, key order) is still an edit and is refused.
 * Bytes and text over `limits` are refused before they are parsed (an already parsed value is the
 * caller's to have bounded).
 */
export function readBundle(input: Uint8Array | string | unknown, limits: BundleLimits = bundleLimits): ReadBundle {
  let value: unknown = input;
  let text: string | undefined;
  if (input instanceof Uint8Array || typeof input === 'string') {
    // A string has at least as many UTF-8 bytes as characters: a long one is refused before encoding.
    const problem =
      input.length > limits.maxBundleBytes ? tooLarge(input.length, limits) : boundsProblem(typeof input === 'string' ? encoder.encode(input) : input, limits);
    if (problem !== undefined) return { ok: false, detail: problem };
  }
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
  const shell = shellOf(value);
  const parsed = bundleShellSchema.safeParse(shell.value);
  if (!parsed.success) {
    const [issue] = parsed.error.issues;
    return { ok: false, detail: `${formatJsonPath(issue!.path)}: ${issue!.message}` };
  }
  const entries = shell.entries ?? parsed.data.entries;
  for (let position = 0; position < entries.length; position++) {
    const problem = auditEntryProblem(entries[position]);
    if (problem !== undefined) return { ok: false, detail: `$.entries[${position}]${problem}` };
  }
  const bundle = (shell.entries === undefined ? parsed.data : { ...parsed.data, entries }) as EvidenceBundleV1;
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

/**
 * What the shell's schema reads: for a plain object whose `entries` is an array, a copy with the
 * same prototype and property descriptors but no entries, and the entries apart. The schema would
 * accept any array there and copy it element by element (a million entries: tens of milliseconds
 * for nothing); the copy gives it exactly what it would otherwise see, the entries aside. Any
 * other value goes to the schema as it is.
 */
function shellOf(value: unknown): { value: unknown; entries?: unknown[] } {
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return { value };
  const descriptors = Object.getOwnPropertyDescriptors(value);
  const entries: unknown = descriptors.entries?.value;
  if (!Array.isArray(entries) || !Object.hasOwn(descriptors.entries!, 'value')) return { value };
  return { value: Object.create(Object.prototype, { ...descriptors, entries: { ...descriptors.entries, value: [] } }) as unknown, entries };
}

function tooLarge(size: number, limits: BundleLimits): string {
  return `the bundle exceeds what a verifier reads: it is ${size} bytes, more than ${limits.maxBundleBytes} (limit maxBundleBytes)`;
}

/** The first limit the bytes exceed, or entries beyond the tree size their checkpoint claims. */
function boundsProblem(bytes: Uint8Array, limits: BundleLimits): string | undefined {
  if (bytes.length > limits.maxBundleBytes) return tooLarge(bytes.length, limits);
  const scanner = new BundleStructureScanner(bytes, limits);
  scanner.scan(bytes.length);
  const structure = scanner.result();
  if (!structure.ok) return structure.detail;
  if (structure.entryCount === undefined || structure.checkpoint === undefined) return undefined;
  let treeSize: number;
  try {
    treeSize = readCheckpoint(JSON.parse(new TextDecoder().decode(structure.checkpoint)) as DsseEnvelope).treeSize;
  } catch {
    // An unreadable checkpoint fails its own check, after the (bounded) parse.
    return undefined;
  }
  return structure.entryCount > treeSize
    ? `$.entries: the bundle holds ${structure.entryCount} entries, more than the ${treeSize} of the tree its checkpoint claims; a bundle's entries are some of that tree's`
    : undefined;
}
