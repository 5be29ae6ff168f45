import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { type Configuration, type JWK } from 'oidc-provider';

/** A person of the test identity provider: signs in as a client-credentials client of its own. */
export interface TestPerson {
  readonly subject: string;
  readonly secret: string;
  readonly email: string;
  readonly groups: readonly string[];
  readonly roles?: readonly string[];
}

/** The public clients people sign in through: the dashboard (authorization code + PKCE) and the CLI (device grant). */
export interface TestSignInClients {
  /** The dashboard's client: its one redirect URI, matched exactly by the provider. */
  readonly dashboard?: { readonly clientId: string; readonly redirectUri: string };
  /** The command line's client (RFC 8628), which may refresh its tokens. */
  readonly cli?: { readonly clientId: string };
}

/** The resource (RFC 8707) whose tokens live one second: for the expiry case. */
export const shortLivedResource = 'urn:cairn:short-lived';

/**
 * A real OpenID provider (oidc-provider, a certified implementation) on loopback that issues JWT
 * access tokens (RFC 9068) for `audience` through the client-credentials grant. Each person is a
 * client whose id is the token's `sub`; their groups, roles and email travel as claims. Its signing
 * key can be rotated: the issuer then publishes only the new key, as a real one does.
 *
 * People also sign in interactively, through the provider's own login and consent pages (its
 * development interactions: the login is the person's subject, any password), to the public
 * clients `useSignInClients` registers: the dashboard's (authorization code with PKCE) and the
 * CLI's (the device authorization grant, with refresh tokens for `offline_access`).
 */
export class TestIdentityProvider {
  readonly #server: Server;
  readonly #people: readonly TestPerson[];
  readonly #audience: string;
  #provider: Provider | undefined;
  #issuer = '';
  #key: JWK | undefined;
  #clients: TestSignInClients = {};
  #deviceCodeSeconds = 600;

  private constructor(people: readonly TestPerson[], audience: string) {
    this.#people = people;
    this.#audience = audience;
    // The provider is swapped on rotation; the listening address (and so the issuer) stays.
    this.#server = createServer((request, response) => {
      void this.#provider!.callback()(request, response);
    });
  }

  /** `port`: where it listens on 127.0.0.1 (any free port when left out; scripts/dev-idp.mjs names one). */
  static async start(options: { people: readonly TestPerson[]; audience: string; port?: number }): Promise<TestIdentityProvider> {
    const idp = new TestIdentityProvider(options.people, options.audience);
    await new Promise<void>((resolve, reject) => {
      idp.#server.once('error', reject);
      idp.#server.listen(options.port ?? 0, '127.0.0.1', resolve);
    });
    idp.#issuer = `http://127.0.0.1:${(idp.#server.address() as AddressInfo).port}`;
    await idp.rotateKeys();
    return idp;
  }

  get issuer(): string {
    return this.#issuer;
  }

  /** Replaces the signing key: tokens signed before are signed by a key the issuer no longer publishes. */
  async rotateKeys(): Promise<void> {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const key = { ...(await exportJWK(privateKey)), kid: `key-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`, alg: 'RS256', use: 'sig' };
    this.#key = key as JWK;
    this.#provider = this.#build();
  }

  /**
   * Registers the public sign-in clients (a redirect URI names the Cairn server's port, known only
   * once it listens, after the provider's issuer went into its config). Sign-ins in progress are lost.
   */
  useSignInClients(clients: TestSignInClients): void {
    this.#clients = clients;
    this.#provider = this.#build();
  }

  #build(): Provider {
    const provider = new Provider(this.#issuer, this.#configuration(this.#key!));
    // Pollers wait the interval the provider names (RFC 8628 §3.2), 5 s when it names none, as
    // this one does: 1 s keeps a test's device sign-in short.
    provider.use(async (context, next) => {
      await next();
      const body = context.body as { device_code?: string; interval?: number } | undefined;
      if (context.path === '/device/auth' && body?.device_code) body.interval = 1;
    });
    return provider;
  }

  /** An access token for `person`, asked for at the token endpoint with its client credentials. */
  async accessToken(person: TestPerson, resource?: string): Promise<string> {
    const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: person.subject, client_secret: person.secret, scope: 'cairn' });
    if (resource) body.set('resource', resource);
    const response = await fetch(`${this.#issuer}/token`, { method: 'POST', body });
    const answer = (await response.json()) as { access_token?: string; error?: string; error_description?: string };
    if (!response.ok || !answer.access_token) throw new Error(`the test IdP refused a token: ${answer.error}: ${answer.error_description}`);
    return answer.access_token;
  }

  /** How long device codes made from now on live (10 minutes at first): a short one expires unapproved. */
  expireDeviceCodesAfter(seconds: number): void {
    this.#deviceCodeSeconds = seconds;
  }

  /** `approveDeviceAs` for one of this provider's people. */
  async approveDevice(verificationUri: string, person: TestPerson, options: { readonly deny?: boolean } = {}): Promise<string> {
    return approveDeviceAs(verificationUri, person.subject, options);
  }

  /**
   * What a person does in a browser for the dashboard's sign-in, up to the provider's redirect back:
   * opens the authorization URL (where the Cairn server's start sent the browser), signs in on the
   * login page as `person` and consents. Returns the URL the provider redirects to (the callback,
   * with the code and state), not followed: the caller calls it, with the cookie of the start.
   */
  async authorize(authorizationUrl: string, person: TestPerson, redirectUri: string): Promise<string> {
    const browser = new FormBrowser((url) => url.startsWith(`${redirectUri}?`));
    let page = await browser.open(authorizationUrl);
    // The login page, then the consent page; the redirect back ends the walk.
    for (let step = 0; step < 4 && !page.url.startsWith(`${redirectUri}?`); step++)
      page = await browser.submit(page, page.text.includes('name="login"') ? { login: person.subject, password: 'any password' } : {});
    if (!page.url.startsWith(`${redirectUri}?`)) throw new Error(`the test IdP did not send the browser back to ${redirectUri}: ${page.text.slice(0, 300)}`);
    return page.url;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #configuration(key: JWK): Configuration {
    const people = this.#people;
    const audience = this.#audience;
    const { dashboard, cli } = this.#clients;
    const personOf = (subject: string | undefined) => people.find((candidate) => candidate.subject === subject);
    return {
      jwks: { keys: [key] },
      clients: [
        ...people.map((person) => ({
          client_id: person.subject,
          client_secret: person.secret,
          grant_types: ['client_credentials'],
          response_types: [],
          redirect_uris: [],
          token_endpoint_auth_method: 'client_secret_post' as const,
        })),
        ...(dashboard
          ? [
              {
                client_id: dashboard.clientId,
                grant_types: ['authorization_code'],
                response_types: ['code' as const],
                redirect_uris: [dashboard.redirectUri],
                token_endpoint_auth_method: 'none' as const,
              },
            ]
          : []),
        ...(cli
          ? [
              {
                client_id: cli.clientId,
                grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
                response_types: [],
                redirect_uris: [],
                token_endpoint_auth_method: 'none' as const,
              },
            ]
          : []),
      ],
      // The login page's name is the person's subject; their email travels in the ID token too.
      findAccount: (_context, subject) => {
        const person = personOf(subject);
        if (!person) return undefined;
        return { accountId: person.subject, claims: () => ({ sub: person.subject, email: person.email, email_verified: true }) };
      },
      claims: { openid: ['sub'], email: ['email', 'email_verified'] },
      scopes: ['openid', 'offline_access', 'email', 'cairn'],
      ttl: {
        ClientCredentials: (_context, token) => token.resourceServer?.accessTokenTTL ?? 3600,
        DeviceCode: () => this.#deviceCodeSeconds,
      },
      features: {
        devInteractions: { enabled: true },
        deviceFlow: { enabled: true },
        revocation: { enabled: true },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => 'urn:cairn',
          useGrantedResource: () => true,
          getResourceServerInfo: (_context, resource) => ({
            scope: 'cairn',
            audience,
            accessTokenFormat: 'jwt',
            accessTokenTTL: resource === shortLivedResource ? 1 : 3600,
            jwt: { sign: { alg: 'RS256' } },
          }),
        },
      },
      extraTokenClaims: (_context, token) => {
        // A person signed in interactively is the token's account; a client-credentials person is its client.
        const { accountId, clientId } = token as { accountId?: string; clientId?: string };
        const person = personOf(accountId ?? clientId);
        if (!person) return undefined;
        return { email: person.email, email_verified: true, groups: [...person.groups], ...(person.roles ? { roles: [...person.roles] } : {}) };
      },
    };
  }
}

/**
 * What a person does in a browser for `cairn login`: opens the verification URL with the user
 * code, confirms it (or aborts: `deny`), signs in on the login page as `login` (any password) and
 * consents — the provider's own pages, driven with fetch (its forms, cookies and redirects as a
 * browser follows them). Returns the text of the last page. Needs only the provider's address, so
 * a test can approve a code of a provider another process runs (scripts/dev-idp.mjs).
 */
export async function approveDeviceAs(verificationUri: string, login: string, options: { readonly deny?: boolean } = {}): Promise<string> {
  const browser = new FormBrowser();
  let page = await browser.open(verificationUri);
  // Pages in turn: one that posts the code on (a browser's script submits it), the confirmation,
  // the login, the consent; the last, saying it is done, has no form.
  for (let step = 0; step < 8 && page.text.includes('<form'); step++) {
    const confirming = page.text.includes('op.deviceConfirmForm');
    if (confirming && options.deny) return (await browser.submit(page, { abort: 'yes' })).text;
    page = await browser.submit(page, page.text.includes('name="login"') ? { login, password: 'any password' } : confirming ? { confirm: 'yes' } : {});
  }
  if (page.text.includes('<form')) throw new Error(`the test IdP's device pages did not end: ${page.text.slice(0, 300)}`);
  return page.text;
}

/** A page a FormBrowser is on: where it is and its HTML. */
interface FormPage {
  readonly url: string;
  readonly text: string;
}

/** Just enough of a browser for the provider's pages: cookies, redirects, and the first form of a page. */
class FormBrowser {
  readonly #cookies = new Map<string, string>();
  readonly #stopAt: (url: string) => boolean;

  /** `stopAt`: an address the browser is sent to but does not open (a page of another server). */
  constructor(stopAt: (url: string) => boolean = () => false) {
    this.#stopAt = stopAt;
  }

  async open(url: string, init: { method?: string; body?: URLSearchParams } = {}): Promise<FormPage> {
    let target = url;
    let method = init.method ?? 'GET';
    let body = init.body;
    for (let hops = 0; hops < 20; hops++) {
      const response = await fetch(target, {
        method,
        redirect: 'manual',
        headers: { cookie: [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ') },
        ...(body ? { body } : {}),
      });
      for (const cookie of response.headers.getSetCookie()) {
        const [pair] = cookie.split(';');
        const at = pair!.indexOf('=');
        this.#cookies.set(pair!.slice(0, at), pair!.slice(at + 1));
      }
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        target = new URL(location, target).href;
        if (this.#stopAt(target)) return { url: target, text: '' };
        method = 'GET';
        body = undefined;
        continue;
      }
      return { url: target, text: await response.text() };
    }
    throw new Error(`the test IdP redirected more than 20 times from ${url}`);
  }

  /** Posts the page's first form with its own fields (hidden inputs, buttons' names aside) and `fields`. */
  async submit(page: FormPage, fields: Readonly<Record<string, string>>): Promise<FormPage> {
    const form = /<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/.exec(page.text);
    if (!form) throw new Error(`the test IdP's page at ${page.url} has no form: ${page.text.slice(0, 300)}`);
    const values = new URLSearchParams();
    for (const input of form[2]!.matchAll(/<input[^>]*>/g)) {
      const name = /name="([^"]*)"/.exec(input[0])?.[1];
      const value = /value="([^"]*)"/.exec(input[0])?.[1] ?? '';
      if (name !== undefined && !(name in fields)) values.set(name, value);
    }
    for (const [name, value] of Object.entries(fields)) values.set(name, value);
    return this.open(new URL(form[1]!.replaceAll('&amp;', '&'), page.url).href, { method: 'POST', body: values });
  }
}
