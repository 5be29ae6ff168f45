// `cairn login --server URL`: the device authorization grant against a real OpenID provider
// (oidc-provider on loopback), the person approving the code on the provider's own pages; the
// token kept 0600 in the client config, then used (and refreshed) by `cairn runs`; `cairn logout`
// forgets it; a denied and an expired code are refused, each saying so; a provider that stops
// answering is said to be unreachable, naming the endpoint.
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { TestIdentityProvider, type TestPerson } from '../../../../packages/oidc/src/test-identity-provider.test-support.ts';
import { runningServers } from '../http/running-server.test-support.ts';
import { runCli, type CliResult } from './run-cli.test-support.ts';

const start = runningServers();
const ana: TestPerson = { subject: 'ana', secret: 'ana-secret-0123456789abcdef0123456789', email: 'ana@example.test', groups: ['eng'] };
const idp = await TestIdentityProvider.start({ people: [ana], audience: 'cairn' });
idp.useSignInClients({ cli: { clientId: 'cairn-cli' } });
afterAll(() => idp.close());

/** `cairn login`, approving (or denying) the code it prints as `person` on the provider's pages. */
async function login(server: string, env: Record<string, string>, options: { readonly deny?: boolean } = {}): Promise<CliResult> {
  let approving: Promise<string> | undefined;
  const result = await runCli(['login', '--server', server, '--name', 'work'], {
    env,
    unset: ['CAIRN_TOKEN', 'CAIRN_SERVER', 'CAIRN_CONTEXT'],
    onStdout: (stdout) => {
      const url = /open (\S+)/.exec(stdout)?.[1];
      if (url && !approving) approving = idp.approveDevice(url, ana, options);
    },
  });
  if (approving) await approving;
  return result;
}

test(
  'cairn login signs in through the device flow; the token is kept 0600 and cairn runs acts as the person; logout forgets it; a denied or expired code is refused',
  { timeout: 60_000 },
  async () => {
    const oidc = {
      issuer: idp.issuer,
      audience: 'cairn',
      roles: { viewer: ['runs:read'] },
      grants: [{ group: 'eng', role: 'viewer' }],
      // `cairn`: the test provider's scope for Cairn's audience (its access tokens are then JWTs for it).
      cli: { clientId: 'cairn-cli', scopes: ['openid', 'offline_access', 'cairn'] },
    };
    const { base, api } = await start('tokens', { config: { server: { oidc } } });
    const submitted = await api('/v1/runs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        version: 1,
        name: 'seen-by-ana',
        items: [{ id: 'gate', approval: 'required', runtime: { kind: 'command', argv: ['/bin/true'] } }],
      }),
    });
    expect(submitted.status).toBe(201);
    const home = mkdtempSync(join(tmpdir(), 'cairn-login-'));
    const clientConfig = join(home, 'client.yaml');
    const env = { CAIRN_CLIENT_CONFIG: clientConfig };

    const signedIn = await login(base, env);
    expect([signedIn.status, signedIn.stderr]).toEqual([0, '']);
    expect(signedIn.stdout).toContain(`signed in to ${base} as ${idp.issuer}#ana (context work, now current)`);
    expect(statSync(clientConfig).mode & 0o777).toBe(0o600);
    const kept = parseYaml(readFileSync(clientConfig, 'utf8')) as {
      current: string;
      contexts: Record<string, { token: string; login: { refreshToken?: string; expiresAt: string } }>;
    };
    expect(kept.current).toBe('work');
    expect(kept.contexts['work']!.login.refreshToken).toBeTruthy();

    // cairn runs acts as ana with the kept token; one about to expire is refreshed before it is sent.
    const expiring = {
      ...kept,
      contexts: { work: { ...kept.contexts['work']!, login: { ...kept.contexts['work']!.login, expiresAt: new Date(Date.now() + 5_000).toISOString() } } },
    };
    writeFileSync(clientConfig, stringifyYaml(expiring), { mode: 0o600 });
    const runs = await runCli(['runs', '--json'], { env, unset: ['CAIRN_TOKEN', 'CAIRN_SERVER', 'CAIRN_CONTEXT'] });
    expect([runs.status, runs.stderr]).toEqual([0, '']);
    expect(runs.stdout).toContain('seen-by-ana');
    const refreshed = parseYaml(readFileSync(clientConfig, 'utf8')) as typeof kept;
    expect(refreshed.contexts['work']!.token).not.toBe(kept.contexts['work']!.token);
    expect(Date.parse(refreshed.contexts['work']!.login.expiresAt)).toBeGreaterThan(Date.now() + 60_000);
    expect(statSync(clientConfig).mode & 0o777).toBe(0o600);
    // In the folder of a config that names this same server (its own folder), the sign-in is used too.
    writeFileSync(join(home, 'cairn.config.yaml'), `dataDirectory: ./data\nserver:\n  host: 127.0.0.1\n  port: ${new URL(base).port}\n`);
    const inFolder = await runCli(['--config', join(home, 'cairn.config.yaml'), 'runs', '--json'], {
      env,
      unset: ['CAIRN_TOKEN', 'CAIRN_SERVER', 'CAIRN_CONTEXT'],
    });
    expect([inFolder.status, inFolder.stderr]).toEqual([0, '']);
    expect(inFolder.stdout).toContain('seen-by-ana');

    // A viewer's approval is refused: the advice fits a person signed in through the provider
    // (their roles, then `cairn login` again), not a token to make.
    const { runId } = (await submitted.json()) as { runId: string };
    const approve = await runCli(['approve', runId, 'gate'], { env, unset: ['CAIRN_TOKEN', 'CAIRN_SERVER', 'CAIRN_CONTEXT'] });
    expect(approve.status, approve.stderr).not.toBe(0);
    expect(approve.stderr).toContain(
      `CAIRN_FORBIDDEN: Not allowed: items.approve on item ${runId}/gate needs the runs:approve scope, which ${idp.issuer}#ana is not granted`,
    );
    expect(approve.stderr).toContain(`you are signed in through ${idp.issuer} (the context "work")`);
    expect(approve.stderr).toContain(`sign in again with \`cairn login --server ${base} --name work\``);
    expect(approve.stderr).not.toContain('cairn token create');
    const approveJson = await runCli(['--json', 'approve', runId, 'gate'], { env, unset: ['CAIRN_TOKEN', 'CAIRN_SERVER', 'CAIRN_CONTEXT'] });
    const refusal = JSON.parse(approveJson.stderr.trim().split('\n').at(-1)!) as { code: string; action: string; advice: string };
    expect(refusal.code).toBe('CAIRN_FORBIDDEN');
    expect(refusal.advice).toContain(`you are signed in through ${idp.issuer}`);
    expect(refusal.action).toContain(`You signed in through the identity provider as ${idp.issuer}#ana, with the Cairn roles viewer`);
    expect(refusal.action).toContain('Ask an admin of the server for a role with the runs:approve scope');
    expect(refusal.action).not.toContain('cairn token create');

    const loggedOut = await runCli(['logout'], { env });
    expect(loggedOut.status).toBe(0);
    expect(loggedOut.stdout).toContain('the provider revoked the refresh token');
    expect(parseYaml(readFileSync(clientConfig, 'utf8'))).toEqual({ current: 'work', contexts: { work: { server: base } } });

    const denied = await login(base, env, { deny: true });
    expect(denied.status).toBe(3);
    expect(denied.stderr).toContain('The sign-in was denied at');
    expect(denied.stderr).not.toContain('CAIRN_TOKEN');

    // No one approves a code that lives 2 seconds.
    idp.expireDeviceCodesAfter(2);
    const expired = await runCli(['login', '--server', base], { env, unset: ['CAIRN_TOKEN', 'CAIRN_SERVER', 'CAIRN_CONTEXT'] });
    expect(expired.status).toBe(3);
    expect(expired.stderr).toContain('The device code expired before it was approved');
    // Neither refusal left a token behind.
    expect(parseYaml(readFileSync(clientConfig, 'utf8'))).toEqual({ current: 'work', contexts: { work: { server: base } } });
  },
);

test(
  'cairn login when the provider stops answering: its token endpoint while the code waits, or its device authorization endpoint, is CAIRN_IDENTITY_PROVIDER_UNAVAILABLE naming it, not a refused sign-in',
  { timeout: 60_000 },
  async () => {
    // A provider of this test's own: it stops once `cairn login` printed its code, so a poll finds its token endpoint closed.
    const provider = await TestIdentityProvider.start({ people: [ana], audience: 'cairn' });
    provider.useSignInClients({ cli: { clientId: 'cairn-cli' } });
    const oidcOf = (issuer: string) => ({
      issuer,
      audience: 'cairn',
      roles: { viewer: ['runs:read'] },
      cli: { clientId: 'cairn-cli', scopes: ['openid', 'offline_access', 'cairn'] },
    });
    const clientConfig = join(mkdtempSync(join(tmpdir(), 'cairn-login-')), 'client.yaml');
    const env = { CAIRN_CLIENT_CONFIG: clientConfig };
    const unset = ['CAIRN_TOKEN', 'CAIRN_SERVER', 'CAIRN_CONTEXT'];
    try {
      const { base } = await start('tokens', { config: { server: { oidc: oidcOf(provider.issuer) } } });
      let stopped: Promise<void> | undefined;
      const polling = await runCli(['login', '--server', base], {
        env,
        unset,
        onStdout: (stdout) => {
          if (stdout.includes('To sign in, open ')) stopped ??= provider.close();
        },
      });
      await stopped;
      expect(polling.status).toBe(3);
      expect(polling.stderr).toMatch(
        new RegExp(
          `^CAIRN_IDENTITY_PROVIDER_UNAVAILABLE: The identity provider ${provider.issuer} could not be reached: its token endpoint ${provider.issuer}/token did not answer \\(fetch failed: `,
        ),
      );
      expect(polling.stderr).toContain(
        '`cairn login` cannot sign you in until it answers; check the network (a VPN, a proxy) and that the provider answers from this machine.',
      );
      expect(polling.stderr).not.toMatch(/unexpected error|CAIRN_INTERNAL|CAIRN_UNAUTHENTICATED|\n\s+at /);

      // A kept sign-in of the stopped provider whose access token is about to expire: a command cannot refresh it.
      const expiring = { issuer: provider.issuer, clientId: 'cairn-cli', refreshToken: 'refresh', expiresAt: new Date(Date.now() + 5_000).toISOString() };
      writeFileSync(clientConfig, stringifyYaml({ current: 'work', contexts: { work: { server: base, token: 'access', login: expiring } } }), { mode: 0o600 });
      const refreshing = await runCli(['runs'], { env, unset });
      expect(refreshing.status).toBe(3);
      expect(refreshing.stderr).toContain(
        `CAIRN_IDENTITY_PROVIDER_UNAVAILABLE: The identity provider ${provider.issuer} could not be reached: its discovery document ${provider.issuer}/.well-known/openid-configuration could not be read (fetch failed: connect ECONNREFUSED`,
      );
      expect(refreshing.stderr).toContain('and that the provider answers from this machine.');
    } finally {
      await provider.close();
    }

    // A provider whose discovery document answers, but whose device authorization endpoint does not (the stopped provider's).
    const closedEndpoint = `${provider.issuer}/device/auth`;
    const half = createServer((_request, response) => {
      const issuer = `http://127.0.0.1:${(half.address() as AddressInfo).port}`;
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ issuer, token_endpoint: `${issuer}/token`, device_authorization_endpoint: closedEndpoint }));
    });
    await new Promise<void>((resolve) => half.listen(0, '127.0.0.1', resolve));
    try {
      const issuer = `http://127.0.0.1:${(half.address() as AddressInfo).port}`;
      const { base } = await start('tokens', { config: { server: { oidc: oidcOf(issuer) } } });
      const starting = await runCli(['login', '--server', base], { env, unset });
      expect(starting.status).toBe(3);
      expect(starting.stderr).toContain(
        `CAIRN_IDENTITY_PROVIDER_UNAVAILABLE: The identity provider ${issuer} could not be reached: its device authorization endpoint ${closedEndpoint} did not answer (fetch failed: connect ECONNREFUSED`,
      );
    } finally {
      await new Promise((resolve) => half.close(resolve));
    }
  },
);
