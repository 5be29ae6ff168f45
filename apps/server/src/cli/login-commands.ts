import { CairnError } from '@cairn/protocol/errors';
import type * as OpenIdClient from 'openid-client';
import { readClientConfig, writeClientConfig, type ClientConfig, type ClientContext } from './client-contexts.ts';
import { json, program, say } from './cli-program.ts';

/** What `GET /v1/sign-in` says about the command line's sign-in. */
interface SignInOptions {
  readonly identityProvider: { readonly issuer: string; readonly cli: { readonly clientId: string; readonly scopes: readonly string[] } | null } | null;
}

/** What a command needs to talk to the identity provider. */
interface IdentityProvider {
  readonly client: typeof OpenIdClient;
  /** The provider's metadata, from its discovery document, read from this machine. */
  readonly discover: (issuer: string, clientId: string) => Promise<OpenIdClient.Configuration>;
  /** An endpoint's failure that is the provider being unreachable (CAIRN_IDENTITY_PROVIDER_UNAVAILABLE), or undefined. */
  readonly unreachable: (
    error: unknown,
    issuer: string,
    endpoint: { name: string; address: string | undefined; consequence: string },
  ) => CairnError | undefined;
}

/** openid-client and the provider's discovery, loaded only when a command talks to the identity provider (see cli.ts). */
async function identityProvider(): Promise<IdentityProvider> {
  const [client, { discover }, { identityProviderUnreachable }] = await Promise.all([
    import('openid-client'),
    import('../capabilities/access/oidc-sign-in.ts'),
    import('../capabilities/access/identity-provider-unreachable.ts'),
  ]);
  return {
    client,
    discover: (issuer, clientId) => discover(issuer, clientId, { reachedFrom: 'this machine' }),
    // The server names the provider (server.oidc.issuer), and its discovery document the endpoint.
    unreachable: (error, issuer, { name, address, consequence }) =>
      identityProviderUnreachable(error, issuer, {
        name,
        address: address ?? `(none in ${issuer}'s discovery document)`,
        option: 'server.oidc.issuer',
        check: 'the network (a VPN, a proxy)',
        consequence,
        from: 'this machine',
      }),
  };
}

/** An access token this close to its expiry is refreshed before a command sends it. */
const refreshMarginMs = 60_000;

/**
 * `cairn login --server URL`: signs the user in through the identity provider the server names
 * (`GET /v1/sign-in`), with the device authorization grant (RFC 8628): the command prints a URL
 * and a code, the person approves them in any browser, and the provider's access token (a JWT the
 * server's OIDC authorizer accepts) goes into a context of the client config (0600), with its
 * refresh token when the provider gives one: commands then refresh it before it expires.
 * `cairn logout` forgets them (and asks the provider to revoke the refresh token).
 */
export function addLoginCommands(): void {
  program
    .command('login')
    .description(
      'sign in through the identity provider the server names (a URL and a code to approve in a browser); the token is kept 0600 in the client config',
    )
    .requiredOption('--server <url>', "the server's URL, e.g. https://cairn.example.com")
    .option('--name <context>', 'the context to keep the sign-in in (default: the server’s host name); it becomes the current one')
    .action(async (options: { server: string; name?: string }) => {
      const server = options.server.replace(/\/+$/, '');
      const name = options.name ?? contextNameOf(server);
      const { issuer, clientId, scopes } = await cliSignInOf(server);
      const provider = await identityProvider();
      const { client } = provider;
      const configuration = await provider.discover(issuer, clientId);
      const metadata = configuration.serverMetadata();
      const device = await client.initiateDeviceAuthorization(configuration, { scope: scopes.join(' ') }).catch((error: unknown) => {
        throw (
          provider.unreachable(error, issuer, {
            name: 'device authorization endpoint',
            address: metadata.device_authorization_endpoint,
            consequence: '`cairn login` cannot sign you in',
          }) ?? providerRefusal(client, error, issuer, 'refused to start a device sign-in')
        );
      });
      // When the code expires: a timeout before then is a request the provider did not answer.
      const codeExpiresAt = Date.now() + device.expires_in * 1000;
      const where = device.verification_uri_complete ?? device.verification_uri;
      // To stderr with --json: stdout then holds only the result.
      const tell = (text: string) => (json() ? process.stderr.write(`${text}\n`) : say(text));
      tell(`To sign in, open ${where}${device.verification_uri_complete ? '' : ` and enter the code ${device.user_code}`}`);
      tell(`(code ${device.user_code}; it expires in ${Math.round(device.expires_in / 60)} minutes)`);
      const tokens = await client.pollDeviceAuthorizationGrant(configuration, device).catch((error: unknown) => {
        throw deviceRefusal(provider, error, issuer, { tokenEndpoint: metadata.token_endpoint, codeExpiresAt });
      });
      const actor = await actorOf(server, tokens.access_token);
      const config = await readClientConfig();
      const context: ClientContext = { server, token: tokens.access_token, login: loginOf(issuer, clientId, tokens) };
      await writeClientConfig({ ...config, current: name, contexts: { ...config.contexts, [name]: context } });
      say(json() ? JSON.stringify({ context: name, server, actor }) : `signed in to ${server} as ${actor} (context ${name}, now current)`);
    });
  program
    .command('logout')
    .description('forget the sign-in of a context (default: the current one): its token and refresh token; the provider is asked to revoke the refresh token')
    .option('--name <context>', 'the context (default: the current one)')
    .action(async (options: { name?: string }) => {
      const config = await readClientConfig();
      const name = options.name ?? config.current;
      const context = name === undefined ? undefined : config.contexts[name];
      if (name === undefined || !context)
        throw new CairnError(
          'CAIRN_CONFIG_INVALID',
          `There is no context ${name === undefined ? '(none is current)' : `"${name}"`} to sign out of: \`cairn context list\` shows them.`,
          {
            path: '--name',
          },
        );
      let revoked = false;
      if (context.login?.refreshToken) {
        // Best effort: a provider that cannot be reached, or revokes nothing, still leaves no token here.
        const { client, discover } = await identityProvider();
        revoked = await discover(context.login.issuer, context.login.clientId)
          .then((configuration) => client.tokenRevocation(configuration, context.login!.refreshToken!, { token_type_hint: 'refresh_token' }))
          .then(() => true)
          .catch(() => false);
      }
      const { token: _token, login: _login, ...kept } = context;
      await writeClientConfig({ ...config, contexts: { ...config.contexts, [name]: kept } });
      say(
        json()
          ? JSON.stringify({ context: name, revoked })
          : `signed out of ${context.server} (context ${name})${revoked ? '; the provider revoked the refresh token' : ''}`,
      );
    });
  // Before any command: a signed-in context whose access token is (nearly) expired is refreshed.
  program.hook('preAction', async (_program, command) => {
    if (command.name() === 'login' || command.name() === 'logout') return;
    await refreshLogin();
  });
}

/** The server's `cli` sign-in client, or why `cairn login` cannot use this server. */
async function cliSignInOf(server: string): Promise<{ issuer: string; clientId: string; scopes: readonly string[] }> {
  let response: Response;
  try {
    response = await fetch(`${server}/v1/sign-in`, { headers: { accept: 'application/json' } });
  } catch (error) {
    throw new CairnError('CAIRN_SERVER_UNREACHABLE', `The server ${server} did not answer: ${(error as Error).message}. Check --server, and that it runs.`, {
      path: '--server',
    });
  }
  const options = response.ok ? ((await response.json()) as SignInOptions) : undefined;
  const provider = options?.identityProvider;
  if (!provider?.cli)
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `The server ${server} offers no sign-in for the command line (${response.ok ? `server.oidc.cli is not set${provider ? '' : ', nor any identity provider'}` : `GET /v1/sign-in answered ${response.status}`}): ask its operator to set server.oidc.cli, or use a token (\`cairn context add NAME --server ${server} --token-stdin\`).`,
      { path: '--server' },
    );
  return { issuer: provider.issuer, clientId: provider.cli.clientId, scopes: provider.cli.scopes };
}

/** Who the server says the new token acts as (`GET /v1/session`): a token it does not accept is no sign-in. */
async function actorOf(server: string, token: string): Promise<string> {
  const response = await fetch(`${server}/v1/session`, { headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) {
    const answer = (await response.json().catch(() => ({}))) as { message?: string };
    throw new CairnError(
      response.status === 403 ? 'CAIRN_FORBIDDEN' : 'CAIRN_UNAUTHENTICATED',
      `The identity provider signed you in, but ${server} does not accept its token (${response.status}: ${answer.message ?? 'no reason given'}). Nothing was saved; ask the server's operator for a grant (server.oidc.grants) or check its audience.`,
      { path: '--server', details: { signIn: 'token-refused' } },
    );
  }
  return ((await response.json()) as { actor: { id: string } }).actor.id;
}

/** What the client config keeps of a sign-in besides the access token. */
function loginOf(issuer: string, clientId: string, tokens: OpenIdClient.TokenEndpointResponse): NonNullable<ClientContext['login']> {
  return {
    issuer,
    clientId,
    ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
    ...(tokens.expires_in === undefined ? {} : { expiresAt: new Date(Date.now() + tokens.expires_in * 1000).toISOString() }),
  };
}

/**
 * Refreshes the access token of the context a command will use (`--context`, `CAIRN_CONTEXT`, or
 * the current one) when it expires within a minute and a refresh token is kept. A command given
 * its server or token otherwise (`--server`, `CAIRN_SERVER`, `CAIRN_TOKEN`) is left alone; a
 * refused refresh says to log in again.
 */
export async function refreshLogin(now = new Date()): Promise<void> {
  if (process.env['CAIRN_TOKEN'] || process.env['CAIRN_SERVER']) return;
  let config: ClientConfig;
  try {
    config = await readClientConfig();
  } catch {
    // A broken client config is the command's to report, if it uses one (`cairn serve` does not).
    return;
  }
  const name = program.opts<{ context?: string }>().context ?? (process.env['CAIRN_CONTEXT'] || undefined) ?? config.current;
  const context = name === undefined ? undefined : config.contexts[name];
  const login = context?.login;
  if (!name || !context || !login?.refreshToken || !login.expiresAt || Date.parse(login.expiresAt) - now.getTime() > refreshMarginMs) return;
  const provider = await identityProvider();
  const configuration = await provider.discover(login.issuer, login.clientId);
  const tokens = await provider.client.refreshTokenGrant(configuration, login.refreshToken).catch((error: unknown) => {
    throw (
      provider.unreachable(error, login.issuer, {
        name: 'token endpoint',
        address: configuration.serverMetadata().token_endpoint,
        consequence: `The sign-in of context ${name} cannot be refreshed`,
      }) ??
      providerRefusal(
        provider.client,
        error,
        login.issuer,
        `refused to refresh the sign-in of context ${name}: run \`cairn login --server ${context.server}\` again`,
      )
    );
  });
  const refreshed: ClientConfig = {
    ...config,
    contexts: {
      ...config.contexts,
      // A provider that rotates refresh tokens sends a new one; one that does not keeps the old one valid.
      [name]: {
        ...context,
        token: tokens.access_token,
        login: { ...loginOf(login.issuer, login.clientId, tokens), ...(tokens.refresh_token ? {} : { refreshToken: login.refreshToken }) },
      },
    },
  };
  await writeClientConfig(refreshed);
}

/**
 * The refusal of a device sign-in, by what the provider answered: denied, expired, or another
 * error; or its token endpoint not answering, which is no refusal.
 */
function deviceRefusal(
  { client, unreachable }: IdentityProvider,
  error: unknown,
  issuer: string,
  { tokenEndpoint, codeExpiresAt }: { readonly tokenEndpoint: string | undefined; readonly codeExpiresAt: number },
): CairnError {
  if (error instanceof client.ResponseBodyError && error.error === 'access_denied')
    return new CairnError(
      'CAIRN_UNAUTHENTICATED',
      `The sign-in was denied at ${issuer} (the code was refused or aborted in the browser). Run \`cairn login\` again to retry.`,
      {
        details: { signIn: 'access_denied' },
      },
    );
  // The provider says expired_token; openid-client stops polling itself once the code's
  // expires_in has passed (a TimeoutError), which is the same refusal. A poll that timed out
  // before then is the provider not answering.
  if ((error instanceof client.ResponseBodyError && error.error === 'expired_token') || (timedOut(error) && Date.now() >= codeExpiresAt))
    return new CairnError(
      'CAIRN_UNAUTHENTICATED',
      `The device code expired before it was approved at ${issuer}. Run \`cairn login\` again, and approve the new code within its time.`,
      { details: { signIn: 'expired_token' } },
    );
  return (
    unreachable(error, issuer, { name: 'token endpoint', address: tokenEndpoint, consequence: '`cairn login` cannot sign you in' }) ??
    providerRefusal(client, error, issuer, 'did not complete the device sign-in')
  );
}

/** Whether `error`, or what caused it, is a timeout of an AbortSignal. */
function timedOut(error: unknown): boolean {
  for (let cause = error; cause instanceof Error; cause = cause.cause) if (cause.name === 'TimeoutError') return true;
  return false;
}

function providerRefusal(client: typeof OpenIdClient, error: unknown, issuer: string, what: string): CairnError {
  const reason =
    error instanceof client.ResponseBodyError ? `${error.error}${error.error_description ? `: ${error.error_description}` : ''}` : (error as Error).message;
  return new CairnError('CAIRN_UNAUTHENTICATED', `The identity provider ${issuer} ${what} (${reason}).`, {
    details: { signIn: error instanceof client.ResponseBodyError ? error.error : 'provider' },
  });
}

/** A context name from the server's address: its host name, in the characters a context name allows. */
function contextNameOf(server: string): string {
  const host = new URL(server).hostname.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return (host || 'server').slice(0, 63);
}
