// An allow-listed attempt's sandbox (ADR 0049): no network of its own, its egress proxy's door at
// 127.0.0.1:<port> inside (beside the model gateway's, one relay for both), and a trust bundle
// shown where OpenSSL looks. The proxy here is a plain HTTP server on the Unix socket, recording
// what reached it: the proxy itself is @cairn/worker's, tested there and end to end in the server.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { sandboxTrustBundle } from './bubblewrap-command.ts';
import { sandboxLauncher } from './sandbox-launcher.ts';
import { cleanUp, freshUid, runLaunch, testLimits } from './sandbox.test-support.ts';

const directories: string[] = [];
const servers: { close(): unknown }[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
  cleanUp(directories);
});

/** A Unix socket in a folder of its own (0711, as the worker's doors are), answering `<name> saw <url>`. */
async function door(name: string): Promise<{ socket: string; seen: string[] }> {
  const folder = mkdtempSync(join(tmpdir(), `cairn-${name}-`));
  directories.push(folder);
  chmodSync(folder, 0o711);
  const socket = join(folder, `${name}.sock`);
  const seen: string[] = [];
  const server = createHttpServer((request, response) => {
    seen.push(request.url ?? '');
    response.end(`${name} saw ${request.url}`);
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  servers.push(server);
  return { socket, seen };
}

function attempt() {
  const uid = freshUid();
  const folder = mkdtempSync(join(tmpdir(), 'cairn-attempt-'));
  directories.push(folder);
  const workspace = join(folder, 'workspace');
  mkdirSync(workspace);
  return { uid, workspace };
}

// Inside: both doors by HTTP (curl, proxy variables as the worker sets them), then a direct
// connection and a name lookup, which must find no route and no resolver.
const script = [
  'curl -sS --max-time 5 http://127.0.0.1:4010/model; echo',
  'curl -sS --max-time 5 http://www.test.example/through-proxy; echo',
  'curl -sS --max-time 5 --noproxy "*" http://93.184.215.14/direct >/dev/null 2>&1; echo "direct: $?"',
  'getent hosts www.test.example >/dev/null 2>&1; echo "lookup: $?"',
  'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | tr "\\n" " "; echo',
  `echo "trust: $SSL_CERT_FILE $NODE_EXTRA_CA_CERTS $PIP_CERT"; grep -c "the attempt's own CA" ${sandboxTrustBundle}`,
].join('\n');

test('an allow-listed sandbox reaches its proxy and gateway doors and nothing else; it trusts the bundle it is shown', { timeout: 30_000 }, async () => {
  const { uid, workspace } = attempt();
  const gateway = await door('gateway');
  const egress = await door('egress');
  const bundleFolder = mkdtempSync(join(tmpdir(), 'cairn-trust-'));
  directories.push(bundleFolder);
  chmodSync(bundleFolder, 0o711);
  const trustBundle = join(bundleFolder, 'ca-certificates.crt');
  writeFileSync(trustBundle, `${readFileSync(sandboxTrustBundle, 'utf8')}# the attempt's own CA\n`, { mode: 0o644 });
  const proxy = 'http://127.0.0.1:4020';
  const launch = sandboxLauncher({ limits: testLimits, uids: { first: uid, count: 1 } })(['/bin/sh', '-c', script], {
    workspace,
    env: { PATH: '/usr/bin:/bin', http_proxy: proxy, HTTP_PROXY: proxy, NO_PROXY: '127.0.0.1' },
    network: false,
    gateway: { port: 4010, socket: gateway.socket },
    egress: { port: 4020, socket: egress.socket, trustBundle },
  });
  // Handed to the sandbox's uid alone, as the gateway's is.
  expect(statSync(egress.socket)).toMatchObject({ uid });
  expect(statSync(egress.socket).mode & 0o777).toBe(0o600);
  const result = await runLaunch(launch);
  expect(result.stderr).toBe('');
  const lines = result.stdout.trim().split('\n');
  expect(lines[0]).toBe('gateway saw /model');
  // A proxy is asked with the absolute URL: the door led to the egress socket, not the gateway's.
  expect(lines[1]).toBe('egress saw http://www.test.example/through-proxy');
  expect(egress.seen).toEqual(['http://www.test.example/through-proxy']);
  expect(gateway.seen).toEqual(['/model']);
  // No route (curl's 7, "couldn't connect") and no resolver answer: the proxy is the only way out.
  expect(lines[2]).toBe('direct: 7');
  expect(lines[3]).toBe('lookup: 2');
  expect(lines[4]!.trim()).toBe('lo');
  expect(lines[5]).toBe(`trust: ${sandboxTrustBundle} ${sandboxTrustBundle} ${sandboxTrustBundle}`);
  expect(lines[6]).toBe('1');
});

test('an egress socket the launch cannot hand over is refused before anything runs', () => {
  const { uid, workspace } = attempt();
  const launcher = sandboxLauncher({ limits: testLimits, uids: { first: uid, count: 1 } });
  const context = { workspace, env: { PATH: '/usr/bin:/bin' }, network: false };
  expect(() => launcher(['true'], { ...context, egress: { port: 4020, socket: join(workspace, 'missing.sock') } })).toThrow(
    /The sandbox's egress proxy cannot be used: its socket .*missing\.sock cannot be read \(ENOENT\)/,
  );
});

test('a gateway and an egress proxy on one port are refused before anything runs', async () => {
  const { uid, workspace } = attempt();
  const gateway = await door('gateway');
  const egress = await door('egress');
  const launcher = sandboxLauncher({ limits: testLimits, uids: { first: uid, count: 1 } });
  expect(() =>
    launcher(['true'], { workspace, env: {}, network: false, gateway: { port: 4010, socket: gateway.socket }, egress: { port: 4010, socket: egress.socket } }),
  ).toThrow('the sandbox gateway and egress proxy need two ports, not 4010 for both');
});
