import { z } from 'zod';
import type { ServerComposition } from '../composition/server-composition.ts';
import type { HttpApp } from './http-app.ts';
import { bytesAnswer } from './response-schemas.ts';
import { storageReadiness } from './storage-readiness.ts';

/**
 * What operators and their tools ask of a server: Prometheus metrics (every request observed),
 * whether the process is up (`/healthz`), and whether the engine can do its work (`/readyz`).
 */
export function registerOperationRoutes(app: HttpApp, { service, metrics, diskRoom, logSink: sink, storage }: ServerComposition): void {
  const storageStatus = storageReadiness(storage);
  let stateFailingSince: string | undefined;
  // Whether the server's log is being written: a log that cannot be written does not stop the
  // engine, so `/readyz` reports it beside readiness and stays ready. Made here, not as the module
  // loads: the document lists this component after those of the routes registered before.
  const logging = z
    .strictObject({
      ok: z.boolean().meta({ description: 'Whether the last log line was written' }),
      droppedLines: z.int().meta({ description: 'Log lines dropped since the server started, because they could not be written' }),
      since: z.string().optional().meta({ description: 'While failing: when the first line of this failure was dropped' }),
      reason: z.string().optional().meta({ description: 'While failing: why the last line was dropped (e.g. ENOSPC: the disk is full)' }),
    })
    .meta({ id: 'LogSinkStatus', description: "Whether the server's log is being written: a log that cannot be is dropped and counted, never fatal" });
  const readiness = z.strictObject({
    ready: z.boolean(),
    reason: z.string().optional(),
    since: z.string(),
    // Absent when the engine's state could not be read (the reason says why).
    auditEntries: z.int().optional(),
    logging: logging.optional(),
  });
  app.addHook('onResponse', async (request, reply) => {
    metrics.observeRequest(request.routeOptions.url ?? 'unknown', request.method, reply.statusCode, reply.elapsedTime / 1000);
  });
  app.get(
    '/metrics',
    {
      config: { action: 'metrics.read' },
      schema: {
        operationId: 'getMetrics',
        summary: 'Prometheus metrics: runs and items by state, queue depth, dispatch latency, checkpoint lag, anchor failures, HTTP',
        response: { 200: bytesAnswer('text/plain', 'The Prometheus text exposition format') },
      },
    },
    async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  app.get(
    '/healthz',
    { schema: { operationId: 'checkHealth', summary: 'The process is up', response: { 200: z.strictObject({ ok: z.boolean() }) } } },
    async () => ({ ok: true }),
  );
  // Not ready (503) while the engine cannot do its work: its state cannot be read (the database
  // down), the disk under its database (or where tasks write) is full, or storage does not answer
  // (S3 down: operations wait it out, new work should go elsewhere). It says why and since when, so
  // a load balancer stops sending work and an operator knows what to fix.
  app.get(
    '/readyz',
    {
      schema: {
        operationId: 'checkReadiness',
        summary: 'The engine can do its work (503 with the reason when it cannot, e.g. storage full or unavailable)',
        response: { 200: readiness, 503: readiness },
      },
    },
    async (_request, reply) => {
      const logSink = sink?.status();
      let engineHealth: Awaited<ReturnType<typeof service.health>>;
      let auditEntries: number;
      try {
        [engineHealth, auditEntries] = await Promise.all([service.health(), service.auditSize()]);
        stateFailingSince = undefined;
      } catch (error) {
        // The state store is down (PostgreSQL restarting, unreachable): not ready, saying so, never a 500.
        stateFailingSince ??= new Date().toISOString();
        const reason = `state unavailable: ${error instanceof Error ? error.message : String(error)}`;
        return reply.status(503).send({ ready: false, reason, since: stateFailingSince, ...(logSink ? { logging: logSink } : {}) });
      }
      // A full disk under the data directory or the work root is not ready even before a write of the
      // engine's fails: tasks that end meanwhile wait there for room before the engine hears of them.
      const disk = engineHealth.ready ? diskRoom?.status() : undefined;
      const stored = engineHealth.ready && !disk?.full ? await storageStatus() : undefined;
      const health = disk?.full ? { ready: false, reason: disk.reason, since: disk.since } : stored?.ready === false ? stored : engineHealth;
      return reply.status(health.ready ? 200 : 503).send({ ...health, auditEntries, ...(logSink ? { logging: logSink } : {}) });
    },
  );
}
