import fastifyStatic from '@fastify/static';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CairnError } from '@cairn/protocol';
import type { HttpApp } from '../../http/http-app.ts';

/**
 * Where the dashboard's built files are: `dist/dashboard` beside the built server (its build
 * copies apps/dashboard/dist there, and the package ships it), or the dashboard's own `dist` when
 * the server runs from source in the workspace (tests). Null when neither was built.
 */
export function dashboardAssetsDirectory(): string | null {
  for (const candidate of ['./dashboard/', '../../../../dashboard/dist/']) {
    const directory = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(`${directory}index.html`)) return directory;
  }
  return null;
}

// The page loads only its own files and talks only to this server; nothing may frame it, and no
// link from it sends a Referer. Styles allow inline attributes: diff2html's markup carries some.
export const dashboardContentSecurityPolicy =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * The dashboard at `/dashboard/`: static files (public, like /docs: every piece of data comes
 * from the /v1 API with the token the page signs in with, on every server).
 */
export async function registerDashboardRoutes(app: HttpApp, options: { readonly directory?: string | null } = {}): Promise<void> {
  const directory = options.directory === undefined ? dashboardAssetsDirectory() : options.directory;
  const securityHeaders = (set: (name: string, value: string) => unknown) => {
    set('content-security-policy', dashboardContentSecurityPolicy);
    set('referrer-policy', 'no-referrer');
    set('x-content-type-options', 'nosniff');
  };
  app.get('/dashboard', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/dashboard/'));
  if (directory === null) {
    app.get('/dashboard/*', { schema: { hide: true } }, async () => {
      throw new CairnError(
        'CAIRN_NOT_FOUND',
        'The dashboard was not built into this server: build it with `pnpm --filter @cairn/dashboard build` (then `pnpm --filter @cairn/server build`).',
      );
    });
    return;
  }
  await app.register(fastifyStatic, {
    root: directory,
    prefix: '/dashboard/',
    index: 'index.html',
    wildcard: false,
    // File names under assets/ carry their content's hash: cached for good; index.html never.
    setHeaders: (reply, path) => {
      securityHeaders((name, value) => reply.header(name, value));
      reply.header('cache-control', path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-store');
    },
    cacheControl: false,
  });
}
