import type { HttpApp } from '../http/http-app.ts';

/**
 * One line per answered request: method, route (the pattern, `/v1/runs/:runId`, so ids and query
 * strings stay out), status and time. Fastify's own request logging is off: it would log the URL
 * with its query, and nothing here ever logs headers or bodies.
 */
export function logRequests(app: HttpApp): void {
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 },
      'request',
    );
  });
}
