import { z } from 'zod';

/** The path of the dashboard's sign-in callback on a Cairn server: a redirect URI must end in it. */
export const oidcCallbackPath = '/v1/session/oidc/callback';

const scopeList = z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be one OAuth scope, e.g. openid')).min(1);

/**
 * The public clients people sign in through, beside the authorizer's settings in `server.oidc`:
 * the dashboard's (authorization code with PKCE) and the command line's (the device authorization
 * grant, RFC 8628). Both are public clients: a browser tab and a laptop keep no secret, and PKCE
 * (dashboard) and the device code (CLI) bind each sign-in to the one who started it.
 */
export const oidcSignInClientsShape = {
  /** The dashboard's "Sign in with your identity provider"; unset, the dashboard offers tokens and links only. */
  dashboard: z
    .strictObject({
      /** The client the provider registered for the dashboard (a public client, PKCE). */
      clientId: z.string().min(1, 'must name the client registered at the provider for the dashboard'),
      /**
       * This server's callback as the browser reaches it, exactly as registered at the provider
       * (`https://cairn.example.com/v1/session/oidc/callback`): the provider sends the code there only.
       */
      redirectUri: z
        .url({ protocol: /^https?$/, error: `must be the http(s) URL of this server's ${oidcCallbackPath}` })
        .refine((url) => new URL(url).pathname === oidcCallbackPath && new URL(url).search === '' && new URL(url).hash === '', {
          error: `must end in ${oidcCallbackPath}, with no query or fragment (e.g. https://cairn.example.com${oidcCallbackPath})`,
        }),
      /** The scopes asked for; include what makes your provider issue a JWT access token for Cairn's audience. */
      scopes: scopeList.default(['openid', 'email']),
      /** How long a dashboard session lasts (minutes): short, as a session the provider could no longer vouch for should end soon. */
      sessionMinutes: z.int().min(5).max(720).default(60),
    })
    .optional(),
  /** `cairn login --server URL`: the device authorization grant; unset, `cairn login` is refused by this server. */
  cli: z
    .strictObject({
      /** The client the provider registered for the command line (a public client allowed the device grant). */
      clientId: z.string().min(1, 'must name the client registered at the provider for the command line'),
      /** The scopes asked for; `offline_access` asks for a refresh token, so a login outlives one access token. */
      scopes: scopeList.default(['openid', 'offline_access']),
    })
    .optional(),
};

export type OidcSignInClients = { [Key in keyof typeof oidcSignInClientsShape]: z.output<(typeof oidcSignInClientsShape)[Key]> };
