// `cairn webhook add|list|deliveries|rm` as a user runs them: child processes against a running server.
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { runningServers } from '../http/running-server.test-support.ts';

const cli = join(dirname(fileURLToPath(import.meta.url)), 'cli.ts');
const start = runningServers();

function webhookCommand(args: readonly string[], token: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, CAIRN_TOKEN: token, NODE_EXTRA_CA_CERTS: undefined };
  return new Promise((resolve) => {
    execFile(process.execPath, ['--conditions=@cairn/source', cli, ...args], { env }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
    );
  });
}

test(
  'cairn webhook add prints the secret once; list shows no secret; deliveries and rm; a bad url exits 2 (bad input) naming body.url',
  { timeout: 60_000 },
  async () => {
    const { base, api, operatorToken } = await start();
    const added = await webhookCommand(
      ['--json', 'webhook', 'add', 'https://example.com/hooks/cairn', '--event', 'run.state', 'item.state', '--run', 'r-nightly', '--server', base],
      operatorToken,
    );
    expect(added.code, added.stderr).toBe(0);
    const webhook = JSON.parse(added.stdout) as { webhookId: string; secret: string; events: string[]; runId: string };
    expect(webhook).toMatchObject({ events: ['run.state', 'item.state'], runId: 'r-nightly' });
    expect(webhook.secret).toMatch(/^whsec_/);

    const [listed, deliveries, refused] = await Promise.all([
      webhookCommand(['webhook', 'list', '--server', base], operatorToken),
      webhookCommand(['--json', 'webhook', 'deliveries', webhook.webhookId, '--server', base], operatorToken),
      webhookCommand(['webhook', 'add', 'ftp://example.com/hook', '--server', base], operatorToken),
    ]);
    expect(listed.stdout).toContain(`${webhook.webhookId}  https://example.com/hooks/cairn  run.state,item.state of run r-nightly`);
    expect(listed.stdout).not.toContain(webhook.secret.slice('whsec_'.length));
    expect(JSON.parse(deliveries.stdout)).toEqual([]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^CAIRN_PAYLOAD_INVALID: .*body\.url must be an http:\/\/ or https:\/\/ URL, not ftp:/);

    const removed = await webhookCommand(['webhook', 'rm', webhook.webhookId, '--server', base], operatorToken);
    expect(removed.stdout).toBe(`webhook ${webhook.webhookId} removed\n`);
    expect(await (await api('/v1/webhooks')).json()).toEqual([]);
  },
);
