import { z } from 'zod';

const claimName = z
  .string()
  .min(1)
  .regex(/^[^.\s]+(\.[^.\s]+)*$/, 'must be a claim name, or a dotted path into nested claims (realm_access.roles)');

/** Who a grant names: members of a group, holders of an identity-provider role, one email or one subject. */
const grantSchema = z.union(
  [
    z.strictObject({ group: z.string().min(1), role: z.string().min(1) }),
    z.strictObject({ providerRole: z.string().min(1), role: z.string().min(1) }),
    z.strictObject({ email: z.email('must be an email address'), role: z.string().min(1) }),
    z.strictObject({ subject: z.string().min(1), role: z.string().min(1) }),
  ],
  { error: 'must be { group, role }, { providerRole, role }, { email, role } or { subject, role }' },
);

/** A grant of a role to whom it names (a group, a role the identity provider gives, an email, a subject). */
export type OidcGrant = z.infer<typeof grantSchema>;

/** The OIDC authorizer's settings, checked at construction. */
export const oidcAuthorizerSettingsSchema = z
  .strictObject({
    /** The identity provider's issuer URL, exactly as its tokens' `iss` and its discovery document spell it. */
    issuer: z.url({ protocol: /^https?$/, error: 'must be the http(s) URL of the issuer, e.g. https://login.example.com/realms/acme' }),
    /** The audience Cairn's tokens carry (`aud`): one, or any of several. */
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)], { error: 'must name the audience of Cairn access tokens, e.g. cairn' }),
    /** Where the issuer publishes its keys; unset: read from its discovery document (`/.well-known/openid-configuration`). */
    jwksUri: z.url({ protocol: /^https?$/, error: 'must be the http(s) URL of the JWKS' }).optional(),
    /** Signature algorithms accepted; a token signed with another one is refused. */
    algorithms: z
      .array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']))
      .min(1)
      .default(['RS256', 'PS256', 'ES256', 'EdDSA']),
    /** How far the clocks of the issuer and this server may drift apart (seconds) when `exp` and `nbf` are checked. */
    clockToleranceSeconds: z.int().min(0).max(300).default(30),
    /** How long fetched keys are used before they are fetched again (seconds); a token naming an unknown key fetches them at once. */
    jwksCacheSeconds: z.int().min(0).max(86_400).default(600),
    /** The least time between two fetches of the keys (seconds), so that tokens naming unknown keys cannot flood the issuer. */
    jwksCooldownSeconds: z.int().min(0).max(3_600).default(30),
    /** How long the issuer may take to answer one request (milliseconds): its discovery document and keys; the reference server's dashboard sign-in uses it too. */
    requestTimeoutMs: z.int().min(100).max(60_000).default(5_000),
    /** The claim holding the person's groups (a list, or one string). */
    groupsClaim: claimName.default('groups'),
    /** The claim holding the roles the identity provider gives the person. */
    rolesClaim: claimName.default('roles'),
    /** The claim holding the person's email; an email grant needs `email_verified: true` beside it. */
    emailClaim: claimName.default('email'),
    /** Cairn roles by name, each a list of scopes (`runs:read`, `runs:submit`, `admin`). */
    roles: z.record(z.string().min(1), z.array(z.string().min(1)).min(1)),
    /** Who holds which role; a person holds the union of the scopes of every role granted to them. */
    grants: z.array(grantSchema).default([]),
  })
  .superRefine((settings, context) => {
    settings.grants.forEach((grant, index) => {
      if (!Object.hasOwn(settings.roles, grant.role))
        context.addIssue({
          code: 'custom',
          path: ['grants', index, 'role'],
          message: `names no role in roles (${Object.keys(settings.roles).join(', ') || 'none defined'})`,
        });
    });
  });

/** The settings of `createOidcAuthorizer`, as given (defaults not yet applied). */
export type OidcAuthorizerSettings = z.input<typeof oidcAuthorizerSettingsSchema>;
