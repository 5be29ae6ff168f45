import { expect, test } from 'vitest';
import type { TokenRecord } from '../capabilities/access/token-store.ts';
import { diagnoseRunners } from './diagnose-runners.ts';

async function findings(runners: { enabled: boolean; leaseSeconds: number }, records: TokenRecord[]) {
  const noted: { check: string; ok: boolean; detail: string; fix?: string }[] = [];
  await diagnoseRunners(runners, { list: async () => records }, (check, ok, detail, fix) => noted.push({ check, ok, detail, ...(fix ? { fix } : {}) }));
  return noted;
}

const token = (name: string, scopes: TokenRecord['scopes'], more: Partial<TokenRecord> = {}): TokenRecord => ({
  id: name.padEnd(12, '0'),
  name,
  scopes,
  createdAt: '2026-11-28T10:00:00.000Z',
  ...more,
});

test('doctor says runners are off, or on with their lease time and the live runners:run tokens by name', async () => {
  expect(await findings({ enabled: false, leaseSeconds: 30 }, [])).toEqual([
    { check: 'runners', ok: true, detail: expect.stringMatching(/^not enabled \(runners\.enabled: false\)/) },
  ]);
  const on = await findings({ enabled: true, leaseSeconds: 45 }, [
    token('build-1', ['runners:run']),
    token('old', ['runners:run'], { revokedAt: '2026-11-28T11:00:00.000Z' }),
    token('ci', ['runs:submit']),
    token('gpu-1', ['runners:run']),
  ]);
  expect(on).toHaveLength(1);
  expect(on[0]).toMatchObject({ check: 'runners', ok: true });
  expect(on[0]!.detail).toContain('enabled, leaseSeconds 45');
  expect(on[0]!.detail).toContain('2 live runners:run tokens (build-1, gpu-1)');
});

test('doctor fails runners enabled with no live runners:run token, saying how to make one', async () => {
  const [finding] = await findings({ enabled: true, leaseSeconds: 30 }, [
    token('expired', ['runners:run'], { expiresAt: '2000-01-01T00:00:00.000Z' }),
    token('admin', ['admin']),
  ]);
  expect(finding).toMatchObject({ check: 'runners', ok: false, fix: expect.stringContaining('cairn token create --name build-1 --scope runners:run') });
  expect(finding!.detail).toContain('no live token has the runners:run scope');
});
