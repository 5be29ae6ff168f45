import { expect, test } from 'vitest';
import type { AuditEntry } from '@cairn/core';
import { verifyBundle } from './verify-bundle.ts';
import { createRunEvidence } from './run-evidence.test-support.ts';

// A bundle given as a value is the caller's to have built: an entry in it may have no canonical
// JSON at all, and so no leaf; the verifier says so in the inclusion check rather than throwing.
test('an entry with no canonical JSON (a lone surrogate in its entity id) fails inclusion, naming why, instead of throwing', async () => {
  const evidence = await createRunEvidence();
  const entries = evidence.bundle.entries.map((entry, position): AuditEntry =>
    position === 1 ? { ...entry, entity: { ...entry.entity, id: `${entry.entity.id}\ud800` } } : entry,
  );
  const report = await verifyBundle({ ...evidence.bundle, entries }, { trustedKeys: [evidence.signer.record] });
  const inclusion = report.checks.find((check) => check.name === 'inclusion')!;
  expect(inclusion.status).toBe('fail');
  expect(inclusion.detail).toContain('no canonical JSON');
  expect(report.verdict).toBe('failed');
});

test('entries whose members come in any order verify as their canonical form does', async () => {
  const evidence = await createRunEvidence();
  // Members reversed: written through canonicalJson's sorting, not the one-stringify fast path.
  const entries = evidence.bundle.entries.map((entry) => Object.fromEntries(Object.entries(entry).reverse()) as unknown as AuditEntry);
  const report = await verifyBundle({ ...evidence.bundle, entries }, { trustedKeys: [evidence.signer.record] });
  expect(report.checks.find((check) => check.name === 'inclusion')!.status).toBe('pass');
});
