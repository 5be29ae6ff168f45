import type { Actor, AuthenticatedPrincipal, AuthorizationDecision, AuthorizationResource, AuthorizerV1, Logger } from '@cairn/core';
import { CairnError, isCairnError, parseSettings } from '@cairn/protocol';
import { createRemoteJWKSet, decodeJwt, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { looksLikeJwt } from '../claims/looks-like-jwt.ts';
import { identityProviderUnavailable, isKeySetUnreadable } from './identity-provider-unavailable.ts';
import { personClaims, rolesFromClaims, scopesOfRoles } from '../claims/roles-from-claims.ts';
import { oidcAuthorizerSettingsSchema, type OidcAuthorizerSettings } from './oidc-authorizer-settings.ts';
import { refusalOf, type OidcRefusal } from './oidc-refusal.ts';

/** A person the identity provider vouched for: the actor, the scopes their roles give, and who they are. */
export interface OidcPrincipal extends AuthenticatedPrincipal {
  /** `{ kind: 'user', id: '<issuer>#<subject>' }`: stable, and never the same as another issuer's person. */
  readonly actor: Actor;
  readonly subject: string;
  /** The verified email, when the token carries one. */
  readonly email?: string;
  /** The Cairn roles granted (their scopes are `scopes`). */
  readonly roles: readonly string[];
  /** The identity provider's groups the person is in (the groups claim): an approval policy's `from` may name one. */
  readonly groups: readonly string[];
}

/** What the host gives the authorizer besides its settings. */
export interface OidcAuthorizerOptions {
  /**
   * The scope each action needs: the host's table (the server's `runs.submit` -> `runs:submit`).
   * `admin` allows every action listed; an action not listed is denied to everyone.
   */
  readonly actionScopes: Readonly<Record<string, string>>;
  readonly logger?: Logger;
  /** The clock expiry is checked against (tests move it); the system's by default. */
  readonly now?: () => Date;
  /**
   * Where the settings live in the host's configuration (`server.oidc` in a Cairn server's), so an
   * error names the option as the operator writes it: `server.oidc.issuer`. `oidc` by default.
   */
  readonly settingsPath?: string;
}

/**
 * AuthorizerV1 over an OpenID provider's JWT access tokens: the signature is checked against the
 * issuer's published keys (fetched again when a token names a key not yet seen, so a rotation is
 * picked up, and a removed key stops verifying once the cache is refreshed), then the issuer, the
 * audience and the expiry. The person's groups, identity-provider roles and verified email are
 * mapped to Cairn roles by `grants`, and roles to scopes by `roles`.
 */
export class OidcAuthorizer implements AuthorizerV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'oidc';
  readonly settings: ReturnType<typeof oidcAuthorizerSettingsSchema.parse>;
  readonly #actionScopes: Readonly<Record<string, string>>;
  readonly #logger: Logger | undefined;
  readonly #now: () => Date;
  readonly #settingsPath: string;
  #jwks: Promise<JWTVerifyGetKey> | undefined;

  constructor(settings: OidcAuthorizerSettings, options: OidcAuthorizerOptions) {
    this.#settingsPath = options.settingsPath ?? 'oidc';
    this.settings = parseSettings(oidcAuthorizerSettingsSchema, settings, this.#settingsPath);
    this.#actionScopes = options.actionScopes;
    this.#logger = options.logger;
    this.#now = options.now ?? (() => new Date());
  }

  /** The principal, or `null` for any token this issuer's keys and claims do not accept (the reason is logged at debug). */
  async authenticate(credential: string): Promise<OidcPrincipal | null> {
    try {
      return await this.verify(credential);
    } catch (error) {
      if (!isCairnError(error, 'CAIRN_UNAUTHENTICATED')) throw error;
      this.#logger?.debug({ reason: error.details?.['reason'] }, error.message);
      return null;
    }
  }

  /**
   * The principal of a token, or a CAIRN_UNAUTHENTICATED error whose `details.reason` says why it was
   * refused (`malformed`, `issuer`, `audience`, `expired`, `not-yet-valid`, `unknown-key`,
   * `signature`, `algorithm`, `claims`). An issuer whose discovery document or keys cannot be read
   * is CAIRN_IDENTITY_PROVIDER_UNAVAILABLE, naming the address; a discovery document naming another
   * issuer is CAIRN_CONFIG_INVALID (`oidc.issuer`, or where `settingsPath` says the settings are).
   */
  async verify(credential: string): Promise<OidcPrincipal> {
    if (!looksLikeJwt(credential)) throw refused('malformed', 'the bearer credential is not a JWT');
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(credential);
    } catch {
      throw refused('malformed', 'the bearer JWT does not decode');
    }
    // Refused before any key is fetched: another issuer's token names keys this one never had.
    if (unverified.iss !== this.settings.issuer)
      throw refused('issuer', `the token was issued by ${JSON.stringify(unverified.iss ?? null)}, not by the configured issuer ${this.settings.issuer}`);
    const jwks = await this.#keys();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(credential, jwks, {
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        algorithms: this.settings.algorithms,
        clockTolerance: this.settings.clockToleranceSeconds,
        currentDate: this.#now(),
        requiredClaims: ['sub', 'exp'],
      }));
    } catch (error) {
      if (isCairnError(error)) throw error;
      const refusal = refusalOf(error, this.settings, this.#settingsPath);
      if (refusal) throw refused(refusal.reason, refusal.message, error);
      throw new CairnError('CAIRN_INTERNAL', `A JWT of ${this.settings.issuer} could not be checked against its keys: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const claims = personClaims(payload, this.settings);
    const roles = rolesFromClaims(claims, this.settings.grants);
    return {
      actor: { kind: 'user', id: `${this.settings.issuer}#${claims.subject}` },
      scopes: scopesOfRoles(roles, this.settings.roles),
      subject: claims.subject,
      ...(claims.verifiedEmail === undefined ? {} : { email: claims.verifiedEmail }),
      roles,
      groups: [...claims.groups],
    };
  }

  async authorize(principal: AuthenticatedPrincipal, action: string, resource: AuthorizationResource): Promise<AuthorizationDecision> {
    const needed = this.#actionScopes[action];
    if (needed === undefined) return { allowed: false, reason: `no one may ${action} (an action this authorizer grants no scope for)` };
    if (principal.scopes.includes(needed) || principal.scopes.includes('admin')) return { allowed: true, reason: `${principal.actor.id} has ${needed}` };
    return {
      allowed: false,
      reason: `${action} on ${resource.kind} ${resource.id} needs the ${needed} scope, which ${principal.actor.id} is not granted (${this.#option('grants')} give roles their scopes)`,
    };
  }

  /**
   * The issuer's key set: from `jwksUri`, or from its discovery document, read once (again after a
   * failure). A fetch of the keys that fails is CAIRN_IDENTITY_PROVIDER_UNAVAILABLE naming where.
   */
  #keys(): Promise<JWTVerifyGetKey> {
    this.#jwks ??= this.#jwksUri().then(
      (uri) => {
        const remote = createRemoteJWKSet(new URL(uri), {
          cacheMaxAge: this.settings.jwksCacheSeconds * 1000,
          cooldownDuration: this.settings.jwksCooldownSeconds * 1000,
          timeoutDuration: this.settings.requestTimeoutMs,
        });
        const keySet = this.settings.jwksUri
          ? { name: 'key set', address: uri, option: this.#option('jwksUri') }
          : {
              name: 'key set',
              address: uri,
              option: this.#option('issuer'),
              check: `${this.#option('issuer')} (its discovery document names this address as jwks_uri)`,
            };
        return async (header, token) => {
          try {
            return await remote(header, token);
          } catch (error) {
            if (isKeySetUnreadable(error)) throw identityProviderUnavailable(this.settings.issuer, keySet, error);
            throw error;
          }
        };
      },
      (error: unknown) => {
        this.#jwks = undefined;
        throw error;
      },
    );
    return this.#jwks;
  }

  async #jwksUri(): Promise<string> {
    if (this.settings.jwksUri) return this.settings.jwksUri;
    const address = `${this.settings.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    let metadata: { issuer?: unknown; jwks_uri?: unknown };
    try {
      const response = await fetch(address, { signal: AbortSignal.timeout(this.settings.requestTimeoutMs), redirect: 'error' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      metadata = (await response.json()) as typeof metadata;
    } catch (error) {
      throw identityProviderUnavailable(
        this.settings.issuer,
        { name: 'discovery document', address, option: this.#option('issuer'), check: `${this.#option('issuer')} (or set ${this.#option('jwksUri')})` },
        error,
      );
    }
    // The document must be the issuer's own (OpenID Connect Discovery 1.0, section 4.3).
    if (metadata.issuer !== this.settings.issuer || typeof metadata.jwks_uri !== 'string')
      throw new CairnError(
        'CAIRN_CONFIG_INVALID',
        `The discovery document ${address} names issuer ${JSON.stringify(metadata.issuer)} and jwks_uri ${JSON.stringify(metadata.jwks_uri)}; ${this.#option('issuer')} must equal its issuer exactly.`,
        { path: this.#option('issuer') },
      );
    return metadata.jwks_uri;
  }

  /** An option's path as the host's configuration spells it (`server.oidc.issuer`). */
  #option(name: keyof OidcAuthorizerSettings): string {
    return `${this.#settingsPath}.${name}`;
  }
}

function refused(reason: OidcRefusal['reason'], message: string, cause?: unknown): CairnError {
  return new CairnError('CAIRN_UNAUTHENTICATED', `The bearer JWT was refused: ${message}.`, {
    details: { reason },
    action: 'Sign in to the identity provider again for a fresh access token meant for Cairn (its audience), or use a Cairn token.',
    ...(cause === undefined ? {} : { cause }),
  });
}

/** An OidcAuthorizer; throws CAIRN_CONFIG_INVALID naming each wrong option (`oidc.grants.0.role`, under `settingsPath`). */
export function createOidcAuthorizer(settings: OidcAuthorizerSettings, options: OidcAuthorizerOptions): OidcAuthorizer {
  return new OidcAuthorizer(settings, options);
}
