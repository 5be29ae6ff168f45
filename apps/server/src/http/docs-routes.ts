import type { ServerComposition } from '../composition/server-composition.ts';
import { docsContentSecurityPolicy, docsPage } from './docs-page.ts';
import type { HttpApp } from './http-app.ts';

/** `GET /docs`: the API's operations as one page, public like /openapi.json (which it reads). */
export function registerDocsRoutes(app: HttpApp, _composition: ServerComposition): void {
  app.get('/docs', { schema: { hide: true } }, async (_request, reply) =>
    reply.type('text/html; charset=utf-8').header('content-security-policy', docsContentSecurityPolicy).send(docsPage),
  );
}
