// A refused connection, shown where a user looks (ADR 0049): an allow-listed item runs behind its
// egress proxy in a real sandbox, asks for a host its list does not hold, and the attempts API,
// the items listing, `cairn status` and `cairn logs` each say what was refused and the allow entry
// that would admit it. The proxy refuses before it resolves or connects: no internet is needed.
import { createCairnClient } from '@cairn/client';
import { expect, test } from 'vitest';
import { runningServers } from '../http/running-server.test-support.ts';
import { runCli } from './run-cli.test-support.ts';

const start = runningServers('file');

const fetcher = {
  id: 'fetch',
  runtime: {
    kind: 'command',
    argv: ['/bin/sh', '-c', 'curl -fsS --max-time 20 https://example.com/ || curl -fsS --max-time 20 http://10.1.2.3/ || exit 7'],
  },
  network: { allow: ['registry.npmjs.org'] },
};

const refusals = [
  { host: 'example.com', port: 443, reason: 'not-allowed', wouldAdmit: 'example.com' },
  { host: '10.1.2.3', port: 80, reason: 'ip-literal', wouldAdmit: null },
];

test(
  "an allow-listed item's refusals: in its attempt and its item, with the entry that would admit each; `cairn status` and `cairn logs` say what to add",
  { timeout: 120_000 },
  async () => {
    const { base, operatorToken, api, composition } = await start('tokens', {
      config: { executor: { kind: 'local', network: { allow: ['registry.npmjs.org'] } } },
    });
    const client = createCairnClient({ baseUrl: base, token: operatorToken });
    const { runId } = await client.submit({
      version: 1,
      name: 'egress',
      items: [fetcher, { id: 'local', runtime: { kind: 'command', argv: ['true'] } }],
    } as never);
    expect((await composition.engine.waitForRun(runId)).state).toBe('failed');

    const attempts = (await (await api(`/v1/runs/${runId}/items/fetch/attempts`)).json()) as { egress?: unknown; artifacts: Record<string, string> }[];
    expect(attempts).toHaveLength(1);
    expect(attempts[0]!.artifacts['egress']).toMatch(/^sha256:/);
    expect(attempts[0]!.egress).toEqual({ allowed: 0, refused: 2, refusals, flagged: 0 });
    const items = (await (await api(`/v1/runs/${runId}/items`)).json()) as { itemId: string; egress?: unknown }[];
    expect(items.find((item) => item.itemId === 'fetch')?.egress).toEqual({ attempt: 1, allowed: 0, refused: 2, refusals, flagged: 0 });
    // An item without an allow-list has no egress, in either view.
    expect(items.find((item) => item.itemId === 'local')).not.toHaveProperty('egress');
    expect((await (await api(`/v1/runs/${runId}/items/local/attempts`)).json()) as unknown[]).toEqual([
      expect.not.objectContaining({ egress: expect.anything() }),
    ]);

    const env = { CAIRN_TOKEN: operatorToken };
    const status = await runCli(['status', runId, '--server', base], { env });
    expect(status.stdout).toContain(
      [
        '  fetch            failed',
        '    egress (attempt 1): 0 allowed, 2 refused',
        '      refused example.com:443 (not-allowed) — to allow it, add "example.com" to the item\'s network.allow',
        '      refused 10.1.2.3:80 (ip-literal) — not allowable: an IP address; the network is reached by host name only',
        '  local            succeeded',
      ].join('\n'),
    );
    const statusJson = JSON.parse((await runCli(['--json', 'status', runId, '--server', base], { env })).stdout) as {
      items: { itemId: string; egress?: unknown }[];
    };
    expect(statusJson.items.find((item) => item.itemId === 'fetch')?.egress).toMatchObject({ refused: 2, refusals });

    // The item's own output stays on stdout and stderr as it wrote it; the notes follow on stderr.
    const logs = await runCli(['logs', runId, 'fetch', '--server', base], { env });
    expect(logs.status).toBe(1);
    expect(logs.stdout).toBe('');
    expect(logs.stderr).toMatch(/^curl: \(\d+\) .*403\ncurl: \(22\) .*403\n\[cairn\] attempt 1 failed \(exit code 7\)/);
    expect(logs.stderr.split('\n').slice(-4)).toEqual([
      '[cairn] egress (attempt 1): 0 allowed, 2 refused',
      '[cairn]   refused example.com:443 (not-allowed) — to allow it, add "example.com" to the item\'s network.allow',
      '[cairn]   refused 10.1.2.3:80 (ip-literal) — not allowable: an IP address; the network is reached by host name only',
      '',
    ]);
    const logsJson = (await runCli(['--json', 'logs', runId, 'fetch', '--server', base], { env })).stdout.trim().split('\n');
    expect(JSON.parse(logsJson.at(-1)!)).toEqual({ egress: { attempt: 1, allowed: 0, refused: 2, refusals, flagged: 0 } });
  },
);
