// The OIDC authorizer against a real OpenID provider (oidc-provider) on loopback: every token here
// was issued by it through the token endpoint, none is signed by the test.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeAuthorizer } from '@cairn/conformance';
import { isCairnError } from '@cairn/protocol';
import { afterAll, describe, expect, test } from 'vitest';
import { TestIdentityProvider, shortLivedResource, type TestPerson } from '../test-identity-provider.test-support.ts';
import { createOidcAuthorizer } from './oidc-authorizer.ts';
import type { OidcAuthorizerSettings } from './oidc-authorizer-settings.ts';

const ana: TestPerson = { subject: 'ana', secret: 'ana-secret-0123456789abcdef0123456789', email: 'ana@example.test', groups: ['eng'] };
const bo: TestPerson = {
  subject: 'bo',
  secret: 'bo-secret-0123456789abcdef0123456789ab',
  email: 'Bo@Example.test',
  groups: ['ops'],
  roles: ['release-managers'],
};

const idp = await TestIdentityProvider.start({ people: [ana, bo], audience: 'cairn' });
const otherIdp = await TestIdentityProvider.start({ people: [ana], audience: 'cairn' });
afterAll(async () => {
  await idp.close();
  await otherIdp.close();
});

const actionScopes = { 'runs.read': 'runs:read', 'runs.submit': 'runs:submit', 'items.approve': 'runs:approve', 'tokens.manage': 'admin' };
const settings = (overrides: Partial<OidcAuthorizerSettings> = {}): OidcAuthorizerSettings => ({
  issuer: idp.issuer,
  audience: 'cairn',
  roles: { viewer: ['runs:read'], operator: ['runs:read', 'runs:submit'], approver: ['runs:read', 'runs:approve'], admin: ['admin'] },
  grants: [
    { group: 'eng', role: 'operator' },
    { group: 'ops', role: 'viewer' },
    { providerRole: 'release-managers', role: 'approver' },
    // bo's verified address is Bo@Example.test: the domain matches in any case, the local part only
    // as the provider gives it, so the first grant is bo's and the second names no one here.
    { email: 'Bo@example.TEST', role: 'admin' },
    { email: 'bo@example.test', role: 'operator' },
  ],
  ...overrides,
});

const anaToken = await idp.accessToken(ana);

describeAuthorizer({
  name: 'oidc',
  create: () => createOidcAuthorizer(settings(), { actionScopes }),
  // The IdP's configuration is the oracle: ana is in eng, eng is granted operator.
  fixture: {
    credential: anaToken,
    actor: { kind: 'user', id: `${idp.issuer}#ana` },
    allowed: [{ action: 'runs.submit', resource: { kind: 'run', id: 'r1' } }],
    denied: [{ action: 'items.approve', resource: { kind: 'item', id: 'r1/review' } }],
  },
});

async function refusalReason(promise: Promise<unknown>): Promise<unknown> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(isCairnError(error, 'CAIRN_UNAUTHENTICATED'), String(error)).toBe(true);
  return (error as { details: Record<string, unknown> }).details['reason'];
}

describe('oidc', () => {
  test("a person's token maps through groups, identity-provider roles and verified email to the roles' scopes", async () => {
    const authorizer = createOidcAuthorizer(settings(), { actionScopes });
    const anaPrincipal = await authorizer.authenticate(anaToken);
    expect(anaPrincipal).toEqual({
      actor: { kind: 'user', id: `${idp.issuer}#ana` },
      scopes: ['runs:read', 'runs:submit'],
      subject: 'ana',
      email: 'ana@example.test',
      roles: ['operator'],
      groups: ['eng'],
    });
    const boPrincipal = await authorizer.verify(await idp.accessToken(bo));
    // Not operator: `bo@example.test` is not the address the provider verified (Bo@...).
    expect(boPrincipal.roles).toEqual(['viewer', 'approver', 'admin']);
    expect(boPrincipal.scopes).toEqual(['admin', 'runs:approve', 'runs:read']);
    expect((await authorizer.authorize(boPrincipal, 'tokens.manage', { kind: 'server', id: 'server' })).allowed).toBe(true);
    expect(await authorizer.authorize(anaPrincipal!, 'tokens.manage', { kind: 'server', id: 'server' })).toEqual({
      allowed: false,
      reason: `tokens.manage on server server needs the admin scope, which ${idp.issuer}#ana is not granted (oidc.grants give roles their scopes)`,
    });
    // Without grants a person is known but may do nothing.
    expect((await createOidcAuthorizer(settings({ grants: [] }), { actionScopes }).verify(anaToken)).scopes).toEqual([]);
  });

  test('a token from another issuer, for another audience, expired, or not a JWT is refused with its reason', async () => {
    const authorizer = createOidcAuthorizer(settings(), { actionScopes });
    expect(await refusalReason(authorizer.verify(await otherIdp.accessToken(ana)))).toBe('issuer');
    expect(await refusalReason(createOidcAuthorizer(settings({ audience: 'cairn-staging' }), { actionScopes }).verify(anaToken))).toBe('audience');
    expect(await refusalReason(authorizer.verify('cairn_0123456789abcdef'))).toBe('malformed');
    const [header, payload] = anaToken.split('.');
    expect(await refusalReason(authorizer.verify(`${header}.${payload}.${Buffer.from('forged').toString('base64url')}`))).toBe('signature');

    // The token lives one second; the clock tolerance (30 s by default) still covers 20 s past expiry, not 60 s.
    const shortLived = await idp.accessToken(ana, shortLivedResource);
    const later = (seconds: number) => () => new Date(Date.now() + seconds * 1000);
    expect((await createOidcAuthorizer(settings(), { actionScopes, now: later(20) }).verify(shortLived)).subject).toBe('ana');
    expect(await refusalReason(createOidcAuthorizer(settings(), { actionScopes, now: later(60) }).verify(shortLived))).toBe('expired');
    expect(await createOidcAuthorizer(settings({ clockToleranceSeconds: 0 }), { actionScopes, now: later(20) }).authenticate(shortLived)).toBeNull();
  });

  test("the issuer's rotated key is picked up, and a token signed by the key it removed is refused", async () => {
    const authorizer = createOidcAuthorizer(settings({ jwksCooldownSeconds: 0 }), { actionScopes });
    const beforeRotation = await idp.accessToken(bo);
    expect((await authorizer.verify(beforeRotation)).subject).toBe('bo');
    await idp.rotateKeys();
    // A token naming the new key makes the authorizer fetch the keys again, although its cache is fresh.
    expect((await authorizer.verify(await idp.accessToken(bo))).subject).toBe('bo');
    expect(await refusalReason(authorizer.verify(beforeRotation))).toBe('unknown-key');
    expect(await authorizer.authenticate(beforeRotation)).toBeNull();
  });

  test('an issuer whose discovery document or keys cannot be read: CAIRN_IDENTITY_PROVIDER_UNAVAILABLE naming where, from verify and authenticate alike', async () => {
    // A provider that issued a token and then stopped: its port is closed.
    const gone = await TestIdentityProvider.start({ people: [ana], audience: 'cairn' });
    const goneToken = await gone.accessToken(ana);
    await gone.close();
    const unavailable = async (promise: Promise<unknown>) => {
      const error = await promise.then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(isCairnError(error, 'CAIRN_IDENTITY_PROVIDER_UNAVAILABLE'), String(error)).toBe(true);
      return error as { message: string; path: string };
    };
    const discovery = await unavailable(createOidcAuthorizer(settings({ issuer: gone.issuer }), { actionScopes }).authenticate(goneToken));
    expect(discovery.message).toContain(
      `The identity provider ${gone.issuer} could not be reached: its discovery document ${gone.issuer}/.well-known/openid-configuration`,
    );
    expect(discovery.message).toContain('ECONNREFUSED');
    expect(discovery.message).toContain('check oidc.issuer (or set oidc.jwksUri) and that the provider answers from this server');
    expect(discovery.path).toBe('oidc.issuer');

    // The issuer answers, but its keys are at an address that does not (closed) or that answers 404.
    const closedKeys = `${gone.issuer}/jwks`;
    const keys = await unavailable(createOidcAuthorizer(settings({ jwksUri: closedKeys }), { actionScopes }).verify(anaToken));
    expect(keys.message).toContain(`its key set ${closedKeys} could not be read (fetch failed: connect ECONNREFUSED`);
    expect(keys.path).toBe('oidc.jwksUri');
    const missingKeys = await unavailable(createOidcAuthorizer(settings({ jwksUri: `${idp.issuer}/no-keys-here` }), { actionScopes }).authenticate(anaToken));
    expect(missingKeys.message).toContain('Expected 200 OK from the JSON Web Key Set HTTP response');
  });

  test("a discovery document naming another issuer is a config error naming oidc.issuer, not the provider's outage", async () => {
    const impostor = createServer((_request, response) => {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ issuer: idp.issuer, jwks_uri: `${idp.issuer}/jwks` }));
    });
    await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
    const issuer = `http://127.0.0.1:${(impostor.address() as AddressInfo).port}`;
    try {
      const [header, , signature] = anaToken.split('.');
      const claims = { ...JSON.parse(Buffer.from(anaToken.split('.')[1]!, 'base64url').toString()), iss: issuer };
      const error = await createOidcAuthorizer(settings({ issuer }), { actionScopes })
        .verify(`${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`)
        .catch((caught: unknown) => caught);
      expect(isCairnError(error, 'CAIRN_CONFIG_INVALID'), String(error)).toBe(true);
      expect(error).toMatchObject({ path: 'oidc.issuer', message: expect.stringContaining(`names issuer ${JSON.stringify(idp.issuer)}`) });
    } finally {
      await new Promise((resolve) => impostor.close(resolve));
    }
  });

  test('settingsPath: every option an error names is named where the host keeps the settings (server.oidc.issuer), not oidc.issuer', async () => {
    const atServer = { actionScopes, settingsPath: 'server.oidc' };
    let invalid: unknown;
    try {
      createOidcAuthorizer(settings({ grants: [{ group: 'eng', role: 'operators' }], issuer: 'ftp://idp' }), atServer);
    } catch (caught) {
      invalid = caught;
    }
    expect(isCairnError(invalid, 'CAIRN_CONFIG_INVALID')).toBe(true);
    expect((invalid as { issues: { path: string }[] }).issues.map((issue) => issue.path)).toEqual(['server.oidc.issuer', 'server.oidc.grants.0.role']);

    // A provider that stopped: its discovery document, then keys named by jwksUri, cannot be read.
    const gone = await TestIdentityProvider.start({ people: [ana], audience: 'cairn' });
    const goneToken = await gone.accessToken(ana);
    await gone.close();
    const discovery = await createOidcAuthorizer(settings({ issuer: gone.issuer }), atServer)
      .verify(goneToken)
      .catch((caught: unknown) => caught);
    expect(isCairnError(discovery, 'CAIRN_IDENTITY_PROVIDER_UNAVAILABLE'), String(discovery)).toBe(true);
    expect(discovery).toMatchObject({
      path: 'server.oidc.issuer',
      message: expect.stringContaining('check server.oidc.issuer (or set server.oidc.jwksUri) and that the provider answers'),
    });
    expect((discovery as Error).message).not.toMatch(/(?<!server\.)oidc\./);
    const keys = await createOidcAuthorizer(settings({ jwksUri: `${gone.issuer}/jwks` }), atServer)
      .verify(anaToken)
      .catch((caught: unknown) => caught);
    expect(keys).toMatchObject({ code: 'CAIRN_IDENTITY_PROVIDER_UNAVAILABLE', path: 'server.oidc.jwksUri' });

    // A refusal and a denial that name an option name it there too (a fresh token: the keys were rotated above).
    const token = await idp.accessToken(ana);
    const algorithm = await createOidcAuthorizer(settings({ algorithms: ['ES256'] }), atServer)
      .verify(token)
      .catch((caught: unknown) => caught);
    expect(algorithm).toMatchObject({ details: { reason: 'algorithm' }, message: expect.stringContaining('not in server.oidc.algorithms') });
    const authorizer = createOidcAuthorizer(settings(), atServer);
    const denied = await authorizer.authorize(await authorizer.verify(token), 'tokens.manage', { kind: 'server', id: 'server' });
    expect(denied.reason).toContain('(server.oidc.grants give roles their scopes)');
  });

  test('settings are checked at construction, each problem named by its option path', () => {
    let error: unknown;
    try {
      createOidcAuthorizer(settings({ grants: [{ group: 'eng', role: 'operators' }], issuer: 'ftp://idp' }), { actionScopes });
    } catch (caught) {
      error = caught;
    }
    expect(isCairnError(error, 'CAIRN_CONFIG_INVALID')).toBe(true);
    expect((error as { issues: { path: string }[] }).issues.map((issue) => issue.path)).toEqual(['oidc.issuer', 'oidc.grants.0.role']);
  });
});
