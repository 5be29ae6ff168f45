import { CairnError } from '@cairn/protocol/errors';
import { dashboardSignIn } from '../capabilities/access/dashboard-sign-in.ts';
import { tokenScopes } from '../capabilities/access/token-scopes.ts';
import { clientOf, configOption, hasServerConfig, json, program, say, serverAddressOf } from './cli-program.ts';
import { loadServerConfigLazily } from './lazy-server-config.ts';

/**
 * `cairn dashboard`: a one-time sign-in link to the dashboard. In the server's folder (or with
 * `--config`) it writes the code to the config's token store, as `cairn token create` does:
 * whoever may read that store may make tokens already, so the link grants nothing they could not.
 * Elsewhere it asks the server (`POST /v1/session/links`) with an admin token (`CAIRN_TOKEN`, or
 * the context's), as `POST /v1/tokens` needs. The code is in the link's fragment (`#signin=`),
 * which a browser sends to no server and puts in no Referer; the page takes it out of the address
 * bar at once, exchanges it for a session token and keeps only that, in the tab's sessionStorage.
 */
export function addDashboardCommands(): void {
  program
    .command('dashboard')
    .description(`print a one-time sign-in link to the dashboard (it works once, for ${dashboardSignIn.codeLifetimeMs / 60_000} minutes)`)
    .option(
      '--server <url>',
      "the address the browser reaches the server at (default: CAIRN_SERVER, else the config's server.host and server.port, else the current context)",
    )
    .option(
      '--scope <scope...>',
      `what the signed-in tab may do: ${tokenScopes.join(', ')} (default: ${dashboardSignIn.defaultScopes.join(' ')}; over HTTP, those of them the token holds)`,
    )
    .action(async (options: { server?: string; scope?: string[] }) => {
      if (!hasServerConfig()) {
        // No server folder here: an admin token (CAIRN_TOKEN, or the context's) asks the server.
        const base = checkedAddress(await serverAddressOf(options.server));
        const created = await (await clientOf(base)).createSignInCode(options.scope);
        return printLink(base, created.code, created.expiresAt, created.scopes);
      }
      const loaded = await loadServerConfigLazily(configOption());
      // The address first: a bad --server makes no code.
      const base = localAddress(options.server, loaded.config.server);
      const now = new Date();
      const { openTokenStore } = await import('../capabilities/access/open-token-store.ts');
      const store = await openTokenStore(loaded);
      let created;
      try {
        created = await store.create(dashboardSignIn.codeName, options.scope ?? dashboardSignIn.defaultScopes, now, {
          oneTime: true,
          expiresAt: new Date(now.getTime() + dashboardSignIn.codeLifetimeMs),
        });
      } finally {
        await store.close();
      }
      printLink(base, created.token, created.record.expiresAt!, created.record.scopes);
    });
}

function printLink(base: string, code: string, expiresAt: string, scopes: readonly string[]): void {
  const url = `${base}/dashboard/#signin=${code}`;
  say(json() ? JSON.stringify({ url, expiresAt }) : `${url}\n(works once, until ${expiresAt}; signs in with ${scopes.join(' ')})`);
}

/** The server's address as a browser reaches it: an unspecified bind address (0.0.0.0, ::) is reached on this machine as localhost. */
function localAddress(server: string | undefined, { host, port }: { readonly host: string; readonly port: number }): string {
  const given = server ?? (process.env['CAIRN_SERVER'] || undefined);
  if (given !== undefined) return checkedAddress(given);
  const reachable = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

/** `given` without a trailing slash, once it is an http(s) address with no query or fragment of its own. */
function checkedAddress(given: string): string {
  const parsed = URL.canParse(given) ? new URL(given) : undefined;
  if (parsed === undefined || !['http:', 'https:'].includes(parsed.protocol) || parsed.search !== '' || parsed.hash !== '')
    throw new CairnError('CAIRN_PAYLOAD_INVALID', `--server ${given} is not the http(s) address of a server, e.g. https://cairn.example.com.`, {
      path: '--server',
    });
  return given.replace(/\/+$/, '');
}
