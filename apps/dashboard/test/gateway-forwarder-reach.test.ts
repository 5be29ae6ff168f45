// While an agent's model call is held in flight, its attempt's door to the model gateway (the
// worker's forwarder, which adds the attempt's credential: the team's provider key and budget) is
// tried as an attacker on the same host would: another user (uid nobody) over TCP to the port the
// agent was given and over the forwarder's Unix socket, a page from another origin in Debian's
// Chromium (a no-cors text/plain POST, which needs no preflight), and a request naming a rebound
// host. None reaches the provider; the agent's own call goes on and its answer is the patch.
import { spawn } from 'node:child_process';
import { chmodSync, globSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { blobText, gatewayServers, submitAgentRun } from '../../server/src/capabilities/gateway/gateway-server.test-support.ts';
import { browserPages } from './browser-pages.test-support.ts';

const start = gatewayServers();
const { open } = browserPages();
const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0).reverse()) close();
});

// The stand-in agent: says where it was told its gateway is, then makes one model call through it
// (bash's /dev/tcp: nothing outside /usr), and keeps the answer. Claude Code's place in the config.
const agentScript = [
  '#!/bin/bash',
  'printf \'%s\\n\' "$ANTHROPIC_BASE_URL" > door.txt',
  'rest=${ANTHROPIC_BASE_URL#http://}',
  'address=${rest%%/*}',
  'path=/${rest#*/}',
  'body=\'{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"Say hello."}],"tools":[{"name":"finish","input_schema":{"type":"object"}}]}\'',
  'exec 3<>"/dev/tcp/${address%:*}/${address#*:}" || exit 3',
  'printf \'POST %s/v1/messages HTTP/1.1\\r\\nHost: %s\\r\\nContent-Type: application/json\\r\\nanthropic-version: 2023-06-01\\r\\nx-api-key: %s\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n%s\' "$path" "$address" "$ANTHROPIC_API_KEY" "${#body}" "$body" >&3',
  'cat <&3 > answer.txt',
  'echo \'{"type":"result","subtype":"success","is_error":false,"result":"done","num_turns":1}\'',
].join('\n');

// Run as uid nobody: a POST over TCP, or a connection to a Unix socket; prints what it got.
const otherUser = [
  'use IO::Socket::INET; use IO::Socket::UNIX;',
  'my ($kind, $where, $path) = @ARGV;',
  'my $body = \'{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"spend"}]}\';',
  "my $socket = $kind eq 'unix' ? IO::Socket::UNIX->new(Peer => $where) : IO::Socket::INET->new(PeerAddr => $where, Proto => 'tcp');",
  'unless ($socket) { print "refused: $!\\n"; exit 0; }',
  'print $socket "POST $path HTTP/1.1\\r\\nHost: $where\\r\\nContent-Type: application/json\\r\\nContent-Length: " . length($body) . "\\r\\nConnection: close\\r\\n\\r\\n$body";',
  'my $line = <$socket>; print defined $line ? "answered: $line" : "closed\\n";',
].join('\n');

function asNobody(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/perl', ['-e', otherUser, ...args], { uid: 65_534, gid: 65_534, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', () => resolve(output.trim()));
  });
}

/** A raw POST from this process naming another host (what a DNS-rebinding page's request carries). */
function rebound(port: number, path: string): Promise<string> {
  return new Promise((resolve) => {
    const sent = httpRequest(
      { host: '127.0.0.1', port, path, method: 'POST', headers: { host: `rebind.test:${port}`, 'content-type': 'application/json' } },
      (answer) => {
        answer.resume();
        resolve(`answered: ${answer.statusCode}`);
      },
    );
    sent.on('error', (error: NodeJS.ErrnoException) => resolve(`refused: ${error.code}`));
    sent.end('{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[]}');
  });
}

/** The attacker's page, served from another loopback port: simple POSTs a page may send anywhere. */
async function attackPage(targets: readonly string[]): Promise<string> {
  const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'spend' }] });
  const html = `<!doctype html><meta charset="utf-8"><title>a page</title><script>
Promise.allSettled(${JSON.stringify(targets)}.map((url) => fetch(url, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: ${JSON.stringify(body)} })))
  .then(() => (document.title = 'done'));
</script>`;
  const server: Server = createServer((_request, response) => response.writeHead(200, { 'content-type': 'text/html' }).end(html));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => server.close());
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

test(
  "an attempt's gateway door answers only its agent: another user, a cross-origin page and a rebound Host reach no provider",
  { timeout: 120_000 },
  async () => {
    const folder = mkdtempSync(join(tmpdir(), 'cairn-stand-in-agent-'));
    closers.push(() => rmSync(folder, { recursive: true, force: true }));
    chmodSync(folder, 0o755);
    writeFileSync(join(folder, 'claude'), agentScript, { mode: 0o755 });
    const held = Promise.withResolvers<void>();
    closers.push(() => held.resolve());
    const { api, composition, models, directory } = await start(
      { anthropic: [{ text: 'Hello from the model.', usage: { inputTokens: 12, outputTokens: 5 }, heldUntil: held.promise }] },
      { provider: 'anthropic', providerKey: 'sk-ant-provider-7f3d', runtimes: { 'claude-code': { command: join(folder, 'claude') } } },
    );
    const runId = await submitAgentRun(api, {
      network: false,
      runtime: { kind: 'agent', adapter: 'claude-code', model: 'claude-sonnet-4-5', prompt: 'Say hello.' },
    });

    // The agent's call is at the provider, held: its door is open now, if it ever is.
    await expect.poll(() => models.requests.length, { timeout: 60_000, message: "the agent's call reached the provider" }).toBe(1);
    const doorFile = globSync('**/door.txt', { cwd: directory })[0];
    expect(doorFile, `door.txt under ${directory}`).toBeDefined();
    const door = new URL(readFileSync(join(directory, doorFile!), 'utf8').trim());
    const port = Number(door.port);
    const messages = `${door.pathname}/v1/messages`;
    const sockets = globSync(join(tmpdir(), 'cairn-gw-*', 'gateway.sock'));
    expect(sockets.length, 'the attempt has a forwarder socket').toBeGreaterThan(0);

    const page = await open(await attackPage([`http://127.0.0.1:${port}${messages}`, `http://127.0.0.1:${port}/anthropic/v1/messages`]), {
      allowConsoleErrors: [/./],
    });
    await expect.poll(() => page.title(), { message: "the attacker's page sent its requests" }).toBe('done');
    const outcomes = {
      "another user, over TCP to the agent's port": await asNobody('tcp', `127.0.0.1:${port}`, messages),
      'another user, over TCP without the path': await asNobody('tcp', `127.0.0.1:${port}`, '/anthropic/v1/messages'),
      ...Object.fromEntries(await Promise.all(sockets.map(async (socket) => [`another user, over ${socket}`, await asNobody('unix', socket, messages)]))),
      'a rebound Host': await rebound(port, messages),
    };
    // Nothing answered them for the attempt: no listener at all, or a refusal.
    for (const [who, outcome] of Object.entries(outcomes)) expect(outcome, who).toMatch(/^refused: |^answered: HTTP\/1\.1 40[34] |^answered: 40[34]$/);
    expect(models.requests.length, `only the agent's call reached the provider; the attempts: ${JSON.stringify(outcomes)}`).toBe(1);

    // The agent's own call goes on: its answer is its patch.
    held.resolve();
    const run = await composition.engine.waitForRun(runId);
    const artifacts = composition.engine.artifacts(runId, 'write')!;
    expect(run.state, await blobText(composition, artifacts['stderr'])).toBe('succeeded');
    expect(await blobText(composition, artifacts['patch'])).toContain('Hello from the model.');
    expect(models.requests).toHaveLength(1);
  },
);
