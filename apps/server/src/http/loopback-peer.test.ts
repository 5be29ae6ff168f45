// Under `auth: loopback-operator` every loopback request acts as the operator; a request from a
// sandbox (a process running as one of the sandbox uids) must not, whatever network it has.
import { spawn } from 'node:child_process';
import { expect, test } from 'vitest';
import { runningServers } from './running-server.test-support.ts';

const serve = runningServers();

/** GETs `url` from a process of its own running as `uid` (as a sandbox's processes do); resolves with status and body. */
function fetchAs(uid: number, url: string): Promise<{ status: number; body: string }> {
  const script = `fetch(${JSON.stringify(url)}).then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.text() })), (e) => console.log(JSON.stringify({ status: 0, body: String(e) })))`;
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--', process.execPath, '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(JSON.parse(stdout) as { status: number; body: string }));
  });
}

test(
  "loopback-operator refuses a request from a sandbox uid (or any user but the server's) with 403, and still serves the operator",
  { timeout: 60_000 },
  async () => {
    const { base, api } = await serve('loopback-operator');
    // 200_123 is in the local executor's default sandbox uids (200000..249999).
    const fromSandbox = await fetchAs(200_123, `${base}/v1/runs`);
    expect(fromSandbox.status).toBe(403);
    expect(JSON.parse(fromSandbox.body)).toMatchObject({ code: 'CAIRN_FORBIDDEN' });
    expect(JSON.parse(fromSandbox.body).message).toMatch(/sandbox/);
    // Another local user is not the operator either: only the user the server runs as (this process) is.
    expect((await fetchAs(1_000, `${base}/v1/runs`)).status).toBe(403);
    expect((await api('/v1/runs')).status).toBe(200);
  },
);

test('the peer of a loopback connection is found over IPv4, IPv6 and a dual-stack (v4-mapped) listener', async () => {
  const { createServer, connect } = await import('node:net');
  const { loopbackPeerUid } = await import('./loopback.ts');
  for (const [listen, to] of [
    ['127.0.0.1', '127.0.0.1'],
    ['::1', '::1'],
    ['::', '127.0.0.1'],
  ] as const) {
    const uid = await new Promise<number | null>((resolve) => {
      const server = createServer((socket) => {
        resolve(loopbackPeerUid(socket));
        socket.destroy();
        server.close();
      });
      server.listen(0, listen, () => connect((server.address() as { port: number }).port, to).on('error', () => {}));
    });
    expect(uid, `${listen} <- ${to}`).toBe(process.getuid?.());
  }
});
