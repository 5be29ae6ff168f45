import { expect, test } from 'vitest';
import type { TokenRecord } from '../capabilities/access/token-store.ts';
import { diagnoseRunners } from './diagnose-runners.ts';

const gatewayOff = { enabled: false, host: '127.0.0.1', port: 0 } as Parameters<typeof diagnoseRunners>[0]['gateway'];

async function findings(runners: { enabled: boolean; leaseSeconds: number }, records: TokenRecord[], gateway = gatewayOff) {
  const noted: { check: string; ok: boolean; detail: string; fix?: string }[] = [];
  await diagnoseRunners({ runners, gateway }, { list: async () => records }, (check, ok, detail, fix) =>
    noted.push({ check, ok, detail, ...(fix ? { fix } : {}) }),
  );
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

test("with the gateway on, doctor says where runners' agent attempts reach it, and that a loopback address serves only runners on this host", async () => {
  const runners = { enabled: true, leaseSeconds: 30 };
  const tokens = [token('build-1', ['runners:run'])];
  const onLoopback = await findings(runners, tokens, { ...gatewayOff, enabled: true, port: 7411 });
  expect(onLoopback[1]).toMatchObject({ check: 'runners gateway', ok: true });
  expect(onLoopback[1]!.detail).toContain("at http://127.0.0.1:7411, this host's loopback: runners on this host can, runners on other hosts cannot");
  expect(onLoopback[1]!.detail).toContain('set gateway.publicUrl');
  const published = await findings(runners, tokens, { ...gatewayOff, enabled: true, host: '0.0.0.0', publicUrl: 'http://10.0.1.5:7411' });
  expect(published[1]).toEqual({ check: 'runners gateway', ok: true, detail: 'agent attempts on runners reach the model gateway at http://10.0.1.5:7411' });
  expect(await findings(runners, tokens)).toHaveLength(1);
});
