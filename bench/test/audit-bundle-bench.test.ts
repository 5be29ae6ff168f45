import { expect, test } from 'vitest';
import { verifyBundle } from '@cairn/audit';
import bundleBenchmarks, { runBundle } from '../audit-bundle.bench.ts';

// `pnpm bench` is not part of the test command, so a bench whose synthetic log the verifier
// refuses went unnoticed; run small, the bench throws exactly when its bundles do not verify.
test('the audit-bundle bench runs at a small size: both of its bundles verify, and it reports its rows', async () => {
  const rows = await bundleBenchmarks({ log: () => {} }, { small: 200, large: 2_000 });
  expect(rows.map((row) => row.name)).toEqual([
    'audit.bundle-verify-200',
    'audit.bundle-verify-200.cpu',
    'audit.bundle-size-200',
    'audit.bundle-verify-2000',
    'audit.bundle-verify-2000.cpu',
    'audit.bundle-verify-2000.main-thread-cpu',
  ]);
  for (const row of rows) expect(row.value).toBeGreaterThanOrEqual(0);
  expect(rows[0]!.value).toBeGreaterThan(0);
});

test("the bench's synthetic run passes every check it can offline, and a tampered copy fails (the bench times the real verifier)", async () => {
  const { bundle, record } = await runBundle(500);
  const report = await verifyBundle(bundle, { trustedKeys: [record] });
  expect(report.verdict).toBe('verified');
  const passed = report.checks.filter((check) => check.status === 'pass').map((check) => check.name);
  expect(passed).toEqual(expect.arrayContaining(['entries', 'completeness', 'inclusion', 'checkpoint-signature', 'manifests', 'artifacts']));
  expect(report.checks.filter((check) => check.status === 'fail')).toEqual([]);
  expect(bundle.entries).toHaveLength(500);
  // Without its last item's end, the run is incomplete.
  const entries = bundle.entries.filter((_, position) => position !== bundle.entries.length - 2).map((entry, runSeq) => ({ ...entry, runSeq }));
  const tampered = await verifyBundle({ ...bundle, entries }, { trustedKeys: [record] });
  expect(tampered.checks.find((check) => check.name === 'completeness')?.status).toBe('fail');
});
