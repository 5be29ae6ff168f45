import type { FastifyRequest } from 'fastify';
import type { ServerComposition } from '../composition/server-composition.ts';
import { eventStreamQuery, streamEvents } from './event-stream.ts';
import type { HttpApp } from './http-app.ts';
import { runParams } from './request-schemas.ts';
import { bytesAnswer } from './response-schemas.ts';

const eventsAnswer = bytesAnswer('text/event-stream', 'Server-sent events: id (the audit sequence), event (its type), data (the event as JSON)');

/**
 * Events as server-sent events (`events:read`): every event, or a run's, ending with the run;
 * resumable with Last-Event-ID or `?after=`, `?types=` keeping only those types. A stream opened
 * with a token ends when `stillAllowed` says the token is no longer live.
 */
export function registerEventRoutes(
  app: HttpApp,
  { service }: ServerComposition,
  stillAllowed: (request: FastifyRequest) => (() => Promise<boolean>) | undefined,
): void {
  app.get(
    '/v1/events',
    {
      config: { action: 'events.read' },
      schema: {
        operationId: 'streamEvents',
        summary: 'Every event, as server-sent events (resume with Last-Event-ID or ?after=; ?types= keeps only those types)',
        querystring: eventStreamQuery,
        response: { 200: eventsAnswer },
      },
    },
    (request, reply) => streamEvents(service, request, reply, { stillAllowed: stillAllowed(request) }),
  );
  app.get(
    '/v1/runs/:runId/events',
    {
      config: { action: 'events.read' },
      schema: {
        operationId: 'streamRunEvents',
        summary: "A run's events, as server-sent events, ending with the run (?types= keeps only those types)",
        params: runParams,
        querystring: eventStreamQuery,
        response: { 200: eventsAnswer },
      },
    },
    (request, reply) => streamEvents(service, request, reply, { runId: request.params.runId, stillAllowed: stillAllowed(request) }),
  );
}
