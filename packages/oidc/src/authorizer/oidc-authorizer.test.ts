// The OIDC authorizer against a real OpenID provider (oidc-provider) on loopback: every token here
// was issued by it through the token endpoint, none is signed by the test.
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
    { email: 'bo@example.test', role: 'admin' },
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
    expect(boPrincipal.roles).toEqual(['viewer', 'approver', 'admin']);
    expect(boPrincipal.scopes).toEqual(['admin', 'runs:approve', 'runs:read']);
    expect((await authorizer.authorize(boPrincipal, 'tokens.manage', { kind: 'server', id: 'server' })).allowed).toBe(true);
    expect(await authorizer.authorize(anaPrincipal!, 'tokens.manage', { kind: 'server', id: 'server' })).toEqual({
      allowed: false,
      reason: `tokens.manage on server server needs the admin scope, which ${idp.issuer}#ana is not granted (grants in the oidc settings give roles their scopes)`,
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
