import { identityProviderUnavailable } from '@cairn/oidc';
import { CairnError } from '@cairn/protocol';
import * as client from 'openid-client';
import { identityProviderUnreachable } from './identity-provider-unreachable.ts';
import type { OidcSignInClients } from './oidc-sign-in-settings.ts';

/** What one sign-in in progress keeps in the browser's cookie until the provider sends the person back. */
export interface PendingSignIn {
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
}

/** The cookie a sign-in in progress lives in: sent only to the callback, never readable by scripts. */
export const pendingSignInCookie = 'cairn_oidc_sign_in';

/** How long a person may take at the provider's pages before the sign-in must start again. */
export const pendingSignInSeconds = 600;

/**
 * The dashboard's sign-in through the identity provider (authorization code with PKCE, through
 * `openid-client`): `begin` makes the provider's authorization URL and what the callback must
 * check (state, nonce, the PKCE verifier), `finish` takes the provider's answer at the exact
 * redirect URI and returns the access token it exchanged the code for. What that token allows is
 * the authorizer's question, as for any bearer JWT. The provider's metadata is discovered once, at
 * the first sign-in, so a server starts while its provider is down.
 */
export class OidcSignIn {
  readonly issuer: string;
  readonly clients: OidcSignInClients;
  /** How long the provider may take to answer each request (server.oidc.requestTimeoutMs). */
  readonly requestTimeoutMs: number;
  #configuration: Promise<client.Configuration> | undefined;

  constructor(issuer: string, clients: OidcSignInClients, requestTimeoutMs: number) {
    this.issuer = issuer;
    this.clients = clients;
    this.requestTimeoutMs = requestTimeoutMs;
  }

  /** The dashboard's client settings; CAIRN_NOT_FOUND when the server has none. */
  get dashboard(): NonNullable<OidcSignInClients['dashboard']> {
    const dashboard = this.clients.dashboard;
    if (!dashboard)
      throw new CairnError(
        'CAIRN_NOT_FOUND',
        'This server has no dashboard sign-in through an identity provider: set server.oidc.dashboard (clientId, redirectUri) in its config, or sign in with a token or `cairn dashboard`.',
        { path: 'server.oidc.dashboard' },
      );
    return dashboard;
  }

  /** How long a dashboard session of a person lasts. */
  get sessionLifetimeMs(): number {
    return (this.clients.dashboard?.sessionMinutes ?? 60) * 60_000;
  }

  /** Where to send the browser, and what the callback will check against what comes back. */
  async begin(): Promise<{ url: string; pending: PendingSignIn }> {
    const dashboard = this.dashboard;
    const configuration = await this.#discovered();
    const pending: PendingSignIn = { state: client.randomState(), nonce: client.randomNonce(), codeVerifier: client.randomPKCECodeVerifier() };
    const url = client.buildAuthorizationUrl(configuration, {
      redirect_uri: dashboard.redirectUri,
      scope: dashboard.scopes.join(' '),
      code_challenge: await client.calculatePKCECodeChallenge(pending.codeVerifier),
      code_challenge_method: 'S256',
      state: pending.state,
      nonce: pending.nonce,
    });
    return { url: url.href, pending };
  }

  /**
   * Exchanges the code of the provider's answer (the callback's query string, read as if at the
   * configured redirect URI: the provider checks the exchange names the URI it redirected to) for
   * tokens, after checking the state, then the ID token's nonce. The subject of the ID token is
   * returned beside the access token, for the caller to check they name one person. A token
   * endpoint that does not answer (or fails) is CAIRN_IDENTITY_PROVIDER_UNAVAILABLE, not a refusal:
   * the person did nothing wrong, and signing in again fails the same way until it answers.
   */
  async finish(query: string, pending: PendingSignIn): Promise<{ accessToken: string; subject: string }> {
    const dashboard = this.dashboard;
    const configuration = await this.#discovered();
    const answer = new URL(dashboard.redirectUri);
    answer.search = query;
    try {
      const tokens = await client.authorizationCodeGrant(configuration, answer, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
      return { accessToken: tokens.access_token, subject: tokens.claims()!.sub };
    } catch (error) {
      throw (
        identityProviderUnreachable(error, this.issuer, {
          name: 'token endpoint',
          address: configuration.serverMetadata().token_endpoint ?? `(none in ${this.issuer}'s discovery document)`,
          option: 'server.oidc.issuer',
          check: "server.oidc.issuer (the token endpoint is its discovery document's token_endpoint)",
          consequence: 'Your sign-in could not be finished, and no one can sign in through it',
        }) ?? signInRefusal(error, this.issuer)
      );
    }
  }

  async #discovered(): Promise<client.Configuration> {
    this.#configuration ??= discover(this.issuer, this.dashboard.clientId, { timeoutMs: this.requestTimeoutMs }).catch((error: unknown) => {
      // Not cached: the next sign-in tries again, once the provider is back.
      this.#configuration = undefined;
      throw error;
    });
    return this.#configuration;
  }
}

/**
 * The provider's metadata for a public client, from its discovery document (whose `issuer` must be
 * the one configured). Plain http is allowed only because the issuer is configured so, and the
 * authorizer accepts its tokens over it already (a loopback provider in tests, a private network).
 * A provider that cannot be reached, or answers with an error, is
 * CAIRN_IDENTITY_PROVIDER_UNAVAILABLE (it must answer from `reachedFrom`: the server, or the
 * machine `cairn login` runs on); a document naming another issuer is CAIRN_CONFIG_INVALID.
 * `timeoutMs` bounds the discovery and every later request made with the configuration (the token
 * endpoint, revocation); without it, openid-client's own 30 s.
 */
export async function discover(
  issuer: string,
  clientId: string,
  { reachedFrom = 'this server', timeoutMs }: { readonly reachedFrom?: string; readonly timeoutMs?: number } = {},
): Promise<client.Configuration> {
  try {
    return await client.discovery(new URL(issuer), clientId, undefined, client.None(), {
      ...(issuer.startsWith('http:') ? { execute: [client.allowInsecureRequests] } : {}),
      // Seconds, as openid-client counts them; it keeps this on the configuration it returns.
      ...(timeoutMs !== undefined ? { timeout: timeoutMs / 1000 } : {}),
    });
  } catch (error) {
    const address = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    if (error instanceof client.ClientError && error.code === 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED')
      throw new CairnError(
        'CAIRN_CONFIG_INVALID',
        `The discovery document ${address} names another issuer than ${issuer} (${error.message}); server.oidc.issuer must equal its issuer exactly.`,
        { path: 'server.oidc.issuer', cause: error },
      );
    throw identityProviderUnavailable(
      issuer,
      { name: 'discovery document', address, option: 'server.oidc.issuer', consequence: 'No one can sign in through it', from: reachedFrom },
      error,
    );
  }
}

/** The provider's refusal or a failed check, as what the person reads: which step failed, and to start again. */
function signInRefusal(error: unknown, issuer: string): CairnError {
  const again = 'Start again from the dashboard’s sign-in page.';
  if (error instanceof client.AuthorizationResponseError)
    return new CairnError(
      'CAIRN_UNAUTHENTICATED',
      `The identity provider ${issuer} did not sign you in: ${error.error}${error.error_description ? ` (${error.error_description})` : ''}. ${again}`,
      {
        details: { reason: error.error },
      },
    );
  if (error instanceof client.ResponseBodyError)
    return new CairnError(
      'CAIRN_UNAUTHENTICATED',
      `The identity provider ${issuer} refused the sign-in code: ${error.error}${error.error_description ? ` (${error.error_description})` : ''}. ${again}`,
      { details: { reason: error.error } },
    );
  // openid-client's own message is general ("invalid response encountered"); its cause names the check.
  const cause = (error as Error).cause;
  const message = cause instanceof Error ? `${(error as Error).message}: ${cause.message}` : (error as Error).message;
  return new CairnError('CAIRN_UNAUTHENTICATED', `The answer of the identity provider ${issuer} did not pass its checks (${message}). ${again}`, {
    details: { reason: 'checks' },
  });
}

/** The pending sign-in in a Cookie header, if the browser sent one. */
export function pendingSignInOf(cookieHeader: string | undefined): PendingSignIn | undefined {
  for (const part of (cookieHeader ?? '').split(';')) {
    const [name, value] = part.trim().split('=', 2);
    if (name !== pendingSignInCookie || value === undefined) continue;
    const [state, nonce, codeVerifier] = value.split('.');
    if (state && nonce && codeVerifier) return { state, nonce, codeVerifier };
  }
  return undefined;
}

/** The Set-Cookie value that keeps `pending` (or, undefined, clears it) for the callback's path only. */
export function pendingSignInCookieValue(pending: PendingSignIn | undefined, secure: boolean, path: string): string {
  const value = pending ? `${pending.state}.${pending.nonce}.${pending.codeVerifier}` : '';
  // Lax: the provider's redirect back is a top-level navigation from its site, which Lax sends on.
  return `${pendingSignInCookie}=${value}; Path=${path}; HttpOnly; SameSite=Lax; Max-Age=${pending ? pendingSignInSeconds : 0}${secure ? '; Secure' : ''}`;
}
