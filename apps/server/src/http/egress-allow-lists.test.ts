// Issue 52 end to end (ADR 0049): items with network allow-lists run on a real server in real
// bubblewrap sandboxes whose only way out is their attempt's egress proxy, against a stand-in
// internet (its own network namespace, name server, HTTPS hosts with a test CA the server's
// executor.network trusts, a git host, verdaccio and a pip index that each want a token). Judged
// from outside: what the hosts received, the item's history, its egress record, its patch and logs.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEntry } from '@cairn/core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  standInHosts,
  startStandInInternet,
  type StandInInternet,
} from '../../../../packages/worker/src/testing/stand-in-internet/stand-in-internet.test-support.ts';
import { artifactFile } from '../capabilities/evidence/artifact-folder.ts';
import { runCli } from '../cli/run-cli.test-support.ts';
import { runningServers } from './running-server.test-support.ts';

const start = runningServers('file');
// The Node inside a sandbox is the host's /usr/bin/node (Debian's, or the machine's).
const sandboxNodeMajor = Number(execFileSync('/usr/bin/node', ['-p', 'process.versions.node.split(".")[0]']).toString());
let internet: StandInInternet;
let server: Awaited<ReturnType<typeof start>>;
/** The run of the refusals test, whose evidence the last test verifies. */
let refusedRunId: string | undefined;

const names = {
  www: 'www.test.example',
  evil: 'evil.test.example',
  elsewhere: 'elsewhere.test.example',
  private: 'private.test.example',
  metadata: 'metadata.test.example',
} as const;

beforeAll(async () => {
  internet = await startStandInInternet({
    npm: true,
    names: { [names.www]: 'serve', [names.evil]: 'serve', [names.elsewhere]: 'serve', [names.private]: '10.1.2.3', [names.metadata]: '169.254.169.254' },
  });
  const folder = mkdtempSync(join(tmpdir(), 'cairn-egress-ca-'));
  const caFile = join(folder, 'stand-in-ca.pem');
  writeFileSync(caFile, internet.ca);
  server = await start('tokens', {
    config: {
      executor: {
        kind: 'local',
        network: {
          credentialHosts: { GIT_TOKEN: [standInHosts.git], NPM_TOKEN: [standInHosts.registry] },
          nameServers: [internet.nameServer],
          trust: [caFile],
        },
      },
    },
  });
  const admin = { kind: 'user', id: 'admin', via: 'cli' } as const;
  await server.composition.engine.setSecret('GIT_TOKEN', internet.tokens.git, admin);
  await server.composition.engine.setSecret('NPM_TOKEN', internet.tokens.npm, admin);
}, 120_000);
afterAll(async () => internet?.stop());

/** Submits one command item running `script` with `network`, waits for it, and returns what a user can see of it. */
async function runItem(id: string, script: string, network: unknown, secrets: string[]) {
  const spec = { version: 1, name: id, items: [{ id, runtime: { kind: 'command', argv: ['/bin/sh', '-c', script] }, secrets, network, timeout: '120s' }] };
  const response = await server.api('/v1/runs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
  const answer = (await response.json()) as { runId: string };
  expect(response.status, JSON.stringify(answer)).toBe(201);
  await server.composition.engine.waitForRun(answer.runId);
  const entries = [...server.composition.engine.audit.runEntries(answer.runId)] as AuditEntry[];
  const completed = entries.find((entry) => entry.action === 'attempt.completed')!;
  const artifacts = completed.data['artifacts'] as Record<string, string>;
  const blob = async (digest: string | undefined) => (digest === undefined ? '' : await (await server.api(`/v1/blobs/${digest}`)).text());
  const records = (await blob(artifacts['egress']))
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  return {
    runId: answer.runId,
    item: server.composition.engine.items(answer.runId)[0]!,
    history: completed.data,
    stdout: await blob(artifacts['stdout']),
    stderr: await blob(artifacts['stderr']),
    patch: await blob(artifacts['patch']),
    records,
  };
}

/** `name: <exit code>` lines the scripts print, as a map. */
function exits(stdout: string): Record<string, number> {
  return Object.fromEntries([...stdout.matchAll(/^([a-z-]+): (\d+)$/gm)].map((match) => [match[1]!, Number(match[2])]));
}

test(
  'allowed: curl, git clone of a private repository with a brokered token, npm install and pip install needing tokens; no token anywhere in the sandbox',
  { timeout: 180_000 },
  async () => {
    const network = {
      allow: [names.www, standInHosts.git, standInHosts.registry, standInHosts.pypi],
      credentials: [
        // git sends the placeholder as its password (Basic); the proxy swaps it.
        { host: standInHosts.git, secret: 'GIT_TOKEN' },
        // npm is given nothing: the proxy sets the header.
        { host: standInHosts.registry, secret: 'NPM_TOKEN', as: { header: 'Authorization', value: 'Bearer {secret}' } },
      ],
    };
    const script = [
      'cd /tmp',
      'curl -sS --fail https://www.test.example/ -o www.txt; echo "curl: $?"',
      'git clone -q "https://x-access-token:$GIT_TOKEN@git.test.example/private.git" repo; echo "git: $?"',
      'mkdir npm-project && cd npm-project && echo "registry=https://registry.test.example/" > .npmrc',
      'npm install --no-audit --no-fund --loglevel=error --cache /tmp/npm-cache stand-in-hello >/dev/null; echo "npm: $?"',
      'cd /tmp',
      // Node's fetch uses the proxy from Node 24 on (NODE_USE_ENV_PROXY, which the worker sets); an older Node fails closed.
      `node -e "fetch('https://www.test.example/').then((r) => console.log('fetch: ' + r.status), (e) => console.log('fetch: ' + (e.cause?.code ?? e.message)))"`,
      'pip install -q --no-cache-dir --disable-pip-version-check --index-url https://pypi.test.example/simple/ --target /tmp/py stand-in-hello; echo "pip: $?"',
      // What the item holds of its tokens: its environment, every process's, every text file it wrote.
      'env > /tmp/env.txt',
      'for process in /proc/[0-9]*; do cat "$process/environ" "$process/cmdline" 2>/dev/null; echo; done | tr "\\0" "\\n" > /tmp/processes.txt',
      'grep -rIh "" /tmp > /workspace/everything.txt 2>/dev/null',
      'cat /tmp/www.txt /tmp/repo/README.md; ls /tmp/npm-project/node_modules /tmp/py | tr "\\n" " "; echo',
    ].join('\n');
    const seen = await runItem('allowed', script, network, ['GIT_TOKEN', 'NPM_TOKEN']);
    expect(exits(seen.stdout), seen.stderr).toEqual({ curl: 0, git: 0, npm: 0, pip: 0, ...(sandboxNodeMajor >= 24 ? { fetch: 200 } : {}) });
    if (sandboxNodeMajor < 24) expect(seen.stdout).toMatch(/^fetch: (EAI_AGAIN|ENOTFOUND)$/m);
    expect(seen.item.state).toBe('succeeded');
    expect(seen.stdout).toContain('hello from www.test.example');
    expect(seen.stdout).toContain('a private repository of the stand-in internet');
    expect(seen.stdout).toMatch(/@stand-in .*stand-in-hello .*stand_in_hello/);
    // The hosts got the real tokens, over TLS, from the proxy.
    await internet.settled();
    const git = internet.requests.filter((request) => request.host === standInHosts.git && request.headers.authorization !== undefined);
    expect(git.length).toBeGreaterThan(0);
    expect(
      git.every(
        (request) =>
          request.scheme === 'https' && request.headers.authorization === `Basic ${Buffer.from(`x-access-token:${internet.tokens.git}`).toString('base64')}`,
      ),
    ).toBe(true);
    const npm = internet.requests.filter((request) => request.host === standInHosts.registry);
    expect(npm.length).toBeGreaterThan(0);
    expect(npm.every((request) => request.headers.authorization === `Bearer ${internet.tokens.npm}`)).toBe(true);
    // The sandbox never held a token: not in its environment, its processes, its files, its logs or its patch.
    // (The logs redact a granted secret's value to [redacted:NAME]: no such mark means none was there.)
    expect(seen.patch).toContain('cairn-placeholder-');
    for (const text of [seen.stdout, seen.stderr, seen.patch]) {
      expect(text).not.toContain(internet.tokens.git);
      expect(text).not.toContain(internet.tokens.npm);
      expect(text).not.toContain('[redacted:');
    }
    // Every connection recorded: host, decision, the rule, the credential's name, the bytes.
    const allowed = seen.records.filter((record) => record['decision'] === 'allowed');
    expect(new Set(allowed.map((record) => record['host']))).toEqual(new Set([names.www, standInHosts.git, standInHosts.registry, standInHosts.pypi]));
    expect(allowed.filter((record) => record['host'] === standInHosts.git).every((record) => record['credential'] === 'GIT_TOKEN')).toBe(true);
    expect(allowed.find((record) => record['host'] === names.www)).toMatchObject({
      rule: names.www,
      credential: null,
      kind: 'connect',
      address: internet.address,
    });
    expect(seen.records.every((record) => (record['bytesIn'] as number) > 0)).toBe(true);
    expect(seen.history['egress']).toMatchObject({ allowed: allowed.length, refused: 0, refusals: [], flagged: 0 });
  },
);

test(
  'refused, each in the history and the egress record: a host off the list, an IP literal, private and metadata addresses by name, a redirect off the list, a differing SNI, a placeholder sent elsewhere, a credential host over plain HTTP; a direct socket and DNS find nothing',
  { timeout: 180_000 },
  async () => {
    const network = {
      allow: [names.www, names.private, names.metadata, standInHosts.registry],
      credentials: [{ host: standInHosts.registry, secret: 'NPM_TOKEN' }],
    };
    const proxyPort = '${HTTPS_PROXY##*:}';
    const script = [
      'curl -sS --max-time 10 https://evil.test.example/ >/dev/null 2>&1; echo "off-list: $?"',
      `curl -sS --max-time 10 https://${internet.address}/ >/dev/null 2>&1; echo "ip-literal: $?"`,
      'curl -sS --max-time 10 https://private.test.example/ >/dev/null 2>&1; echo "private: $?"',
      'curl -sS --max-time 10 http://metadata.test.example/latest/meta-data/ >/dev/null 2>&1; echo "metadata: $?"',
      'curl -sS --max-time 10 -L "https://www.test.example/redirect?to=https://elsewhere.test.example/" >/dev/null 2>&1; echo "redirect: $?"',
      `echo | openssl s_client -proxy 127.0.0.1:${proxyPort} -connect www.test.example:443 -servername evil.test.example >/dev/null 2>&1; echo "sni: $?"`,
      'curl -sS --max-time 10 -H "Authorization: Bearer $NPM_TOKEN" http://www.test.example/ >/dev/null 2>&1; echo "placeholder: $?"',
      'curl -sS --max-time 10 http://registry.test.example/ >/dev/null 2>&1; echo "plain-credential: $?"',
      'curl -sS --max-time 10 --noproxy "*" https://www.test.example/ >/dev/null 2>&1; echo "direct: $?"',
      `curl -sS --max-time 10 --noproxy "*" https://${internet.address}/ >/dev/null 2>&1; echo "direct-address: $?"`,
      'getent hosts www.test.example >/dev/null 2>&1; echo "dns: $?"',
      // A plain request is answered with the proxy's own words: what the agent (and its log) is told.
      'curl -sS --max-time 10 http://evil.test.example/ 2>&1 | head -c 400',
    ].join('\n');
    const questionsBefore = internet.questions.length;
    const seen = await runItem('refused', script, network, ['NPM_TOKEN']);
    refusedRunId = seen.runId;
    // curl: 56 for a refused CONNECT (a plain request's 403 is an answer: 0 without --fail); openssl
    // fails; a direct socket finds no name (6) or no route (7).
    const exit = exits(seen.stdout);
    expect(exit, seen.stdout + seen.stderr).toMatchObject({ 'off-list': 56, 'ip-literal': 56, private: 56, redirect: 56, dns: 2 });
    expect(exit['sni']).not.toBe(0);
    expect([6, 7]).toContain(exit['direct']);
    expect(exit['direct-address']).toBe(7);
    const refusals = seen.records
      .filter((record) => record['decision'] !== 'allowed')
      .map((record) => [record['host'], record['reason'], record['wouldAdmit']]);
    expect(refusals).toEqual(
      expect.arrayContaining([
        [names.evil, 'not-allowed', names.evil],
        [internet.address, 'ip-literal', null],
        [names.private, 'address-forbidden', null],
        [names.metadata, 'address-forbidden', null],
        [names.elsewhere, 'not-allowed', names.elsewhere],
        [names.www, 'sni-mismatch', null],
        [names.www, 'placeholder-elsewhere', null],
        [standInHosts.registry, 'credential-needs-tls', null],
      ]),
    );
    // The redirect's first hop was allowed: it is the client's next request that was refused.
    expect(seen.records.some((record) => record['host'] === names.www && record['decision'] === 'allowed')).toBe(true);
    // The history names each refusal and the entry that would admit it, and the flag.
    const history = seen.history['egress'] as { refused: number; refusals: { host: string; reason: string; wouldAdmit: string | null }[]; flagged: number };
    expect(history.refused).toBe(refusals.length);
    expect(history.refusals).toEqual(expect.arrayContaining([{ host: names.evil, port: 443, reason: 'not-allowed', wouldAdmit: names.evil }]));
    expect(history.flagged).toBe(1);
    // The agent is told why, and what to add, in the proxy's words.
    expect(seen.stdout).toContain(`cairn egress: refused request to ${names.evil}:80 (not-allowed): `);
    expect(seen.stdout).toContain(`add "${names.evil}" to network.allow`);
    // Nothing refused reached a host, and the sandbox asked no name server: the proxy resolves.
    await internet.settled();
    expect(internet.requests.some((request) => request.host === names.evil || request.host === names.elsewhere)).toBe(false);
    expect(internet.questions.slice(questionsBefore).map((question) => question.name)).not.toContain(names.evil);
    expect(JSON.stringify(seen.records)).not.toContain(internet.tokens.npm);
  },
);

test("executor.network.limits: the attempt's connections past the limit are refused, named in its history", { timeout: 120_000 }, async () => {
  const folder = mkdtempSync(join(tmpdir(), 'cairn-egress-ca-'));
  writeFileSync(join(folder, 'ca.pem'), internet.ca);
  const limited = await start('tokens', {
    config: { executor: { kind: 'local', network: { nameServers: [internet.nameServer], trust: [join(folder, 'ca.pem')], limits: { connections: 2 } } } },
  });
  const spec = {
    version: 1,
    name: 'limited',
    items: [
      {
        id: 'three-fetches',
        runtime: {
          kind: 'command',
          argv: ['/bin/sh', '-c', 'for n in 1 2 3; do curl -sS --max-time 10 -o /dev/null https://www.test.example/; echo "fetch-$n: $?"; done'],
        },
        network: { allow: [names.www] },
      },
    ],
  };
  const response = await limited.api('/v1/runs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
  const { runId } = (await response.json()) as { runId: string };
  await limited.composition.engine.waitForRun(runId);
  const completed = [...limited.composition.engine.audit.runEntries(runId)].find((entry) => entry.action === 'attempt.completed')!;
  expect(completed.data['egress']).toEqual({
    allowed: 2,
    refused: 1,
    refusals: [{ host: names.www, port: 443, reason: 'connection-limit', wouldAdmit: null }],
    flagged: 0,
  });
});

test('the evidence of the run with refusals: cairn verify --artifacts lists its egress record; an edited record fails', { timeout: 120_000 }, async () => {
  expect(refusedRunId, 'the refusals test ran first').toBeDefined();
  const scratch = mkdtempSync(join(tmpdir(), 'cairn-egress-evidence-'));
  chmodSync(scratch, 0o711);
  const bundleFile = join(scratch, 'run.bundle.json');
  const folder = join(scratch, 'artifacts');
  const cairn = (args: string[]) => runCli(args, { cwd: scratch, env: { CAIRN_TOKEN: server.operatorToken } });
  const fetched = await cairn(['audit', 'bundle', refusedRunId!, '--out', bundleFile, '--artifacts', folder, '--server', server.base]);
  expect(fetched.status, fetched.stderr).toBe(0);
  const verified = await cairn(['verify', bundleFile, '--trusted-key', server.keyId, '--artifacts', folder]);
  expect(verified.status, verified.stdout + verified.stderr).toBe(0);
  expect(verified.stdout).toMatch(/^valid: true, claim: [a-z-]+, verdict: verified$/m);
  expect(verified.stdout).toMatch(/^ {2}egress refused#1: \d+ allowed, \d+ refused \(.*not-allowed \d.*\) — sha256:[0-9a-f]{64}$/m);
  // One byte of the egress record changed after the fact: the log names another digest.
  const bundle = JSON.parse(readFileSync(bundleFile, 'utf8')) as { artifacts: { kind: string; digest: string }[] };
  const egress = bundle.artifacts.find((artifact) => artifact.kind === 'egress')!;
  const file = artifactFile(folder, egress.digest)!;
  writeFileSync(file, readFileSync(file, 'utf8').replace('"not-allowed"', '"allowed-now"'));
  const edited = await cairn(['verify', bundleFile, '--trusted-key', server.keyId, '--artifacts', folder]);
  expect(edited.status).toBe(1);
  expect(edited.stdout).toMatch(/fail +artifacts +.*the fetched content hashes to sha256:[0-9a-f]{64}, not /);
});
