import { evidenceBundleSchema, formatJsonPath } from '@cairn/protocol';
import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { createRunEvidence } from './run-evidence.test-support.ts';
import { readBundle } from './read-bundle.ts';

// What reading a value said before its entries were set aside from the shell's schema: the first
// issue of the whole document against the schema with entries of any content.
const shellSchema = evidenceBundleSchema.extend({ entries: z.array(z.unknown()) });
function schemaDetail(value: unknown): string | undefined {
  const parsed = shellSchema.safeParse(value);
  return parsed.success ? undefined : `${formatJsonPath(parsed.error.issues[0]!.path)}: ${parsed.error.issues[0]!.message}`;
}

describe('readBundle of a value', () => {
  test('says of a broken shell exactly what the schema says, whatever the entries hold', async () => {
    const { bytes } = await createRunEvidence();
    const bundle = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
    const broken: Record<string, unknown>[] = [
      { ...bundle, entries: 'none' },
      { ...bundle, entries: { 0: bundle['entries'] } },
      { ...bundle, runId: '' },
      { ...bundle, runId: '', entries: 7 },
      { ...bundle, format: 'cairn.bundle/v2' },
      { ...bundle, extra: true },
      { ...bundle, keys: [{}] },
    ];
    for (const value of broken) {
      const read = readBundle(value);
      expect(read.ok).toBe(false);
      expect(read.ok ? undefined : read.detail).toBe(schemaDetail(value));
    }
    // Not plain, or entries behind a getter: the schema reads it as it is, and says the same.
    const withGetter = Object.defineProperty({ ...bundle, runId: '' }, 'entries', { get: () => bundle['entries'], enumerable: true });
    const inherited = Object.assign(Object.create({ entries: bundle['entries'] }) as Record<string, unknown>, { ...bundle, entries: undefined });
    for (const value of [withGetter, inherited]) expect(readBundle(value)).toEqual({ ok: false, detail: schemaDetail(value) });
  });

  test('keeps the entries it was given and the rest as the schema gives it', async () => {
    const { bytes } = await createRunEvidence();
    const bundle = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
    const read = readBundle(bundle);
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    expect(read.bundle).toEqual(shellSchema.parse(bundle));
    expect(Object.keys(read.bundle)).toEqual(Object.keys(shellSchema.parse(bundle)));
    // The same bundle as bytes reads to the same value.
    expect(readBundle(bytes)).toEqual(read);
  });
});
