// The tamper battery: every single-bit change and every truncation of an exported bundle must
// be detected, with the failing check named. Split across test files by byte range so vitest
// runs the halves on both cores.
import { expect, test } from 'vitest';
import { createRunEvidence } from './run-evidence.test-support.ts';
import { verifyBundle } from './verify-bundle.ts';

export function tamperBatteryTests(part: number, parts: number): void {
  test(`every bit flip in part ${part + 1}/${parts} of the bundle and every truncation in it is detected and named`, { timeout: 180_000 }, async () => {
    // With a model call (a model.called entry naming a request and a response body) beside the
    // attempt's patch and logs, so every kind of entry and artifact a bundle holds is flipped.
    const evidence = await createRunEvidence({ modelCalls: 1 });
    const { bytes } = evidence;
    expect(evidence.bundle.artifacts.map((artifact) => artifact.kind).sort()).toEqual(['model-request', 'model-response', 'patch', 'stderr', 'stdout']);
    expect(bytes.byteLength).toBeLessThan(64 * 1024);
    const options = { trustedKeys: [evidence.signer.record] };
    expect((await verifyBundle(bytes, options)).valid).toBe(true);
    const start = Math.floor((bytes.byteLength * part) / parts);
    const end = Math.floor((bytes.byteLength * (part + 1)) / parts);
    const undetected: string[] = [];
    const byCheck = new Map<string, number>();
    const expectDetected = async (tampered: Uint8Array, what: string) => {
      const report = await verifyBundle(tampered, options);
      const failed = report.checks.find((check) => check.status === 'fail');
      if (report.valid || !failed || report.claim !== 'tamper-detecting') undetected.push(what);
      else byCheck.set(failed.name, (byCheck.get(failed.name) ?? 0) + 1);
    };
    for (let offset = start; offset < end; offset++) {
      for (let bit = 0; bit < 8; bit++) {
        const tampered = Uint8Array.from(bytes);
        tampered[offset]! ^= 1 << bit;
        await expectDetected(tampered, `bit ${bit} of byte ${offset}`);
      }
      await expectDetected(bytes.subarray(0, offset), `truncation at ${offset}`);
    }
    expect(undetected).toEqual([]);
    expect([...byCheck.values()].reduce((total, count) => total + count, 0)).toBe((end - start) * 9);
  });
}
