import { z } from 'zod';
import type { ServerComposition } from '../composition/compose-server.ts';
import type { HttpApp } from './http-app.ts';
import { bodyLimits } from './body-limits.ts';
import { noContentSchema, scheduleViewSchema } from './response-schemas.ts';

/** Cron schedules: anyone with `runs:read` lists them; `admin` adds and removes. */
export function registerScheduleRoutes(app: HttpApp, { service }: ServerComposition): void {
  app.get(
    '/v1/schedules',
    {
      config: { action: 'schedules.read' },
      schema: { operationId: 'listSchedules', summary: 'Cron schedules', response: { 200: z.array(scheduleViewSchema) } },
    },
    async () => service.schedules(),
  );
  app.post(
    '/v1/schedules',
    {
      // A schedule carries a run spec: as large as a submitted one.
      bodyLimit: bodyLimits.runSpec,
      config: { action: 'schedules.manage', body: 'run spec' },
      schema: {
        operationId: 'addSchedule',
        summary: 'Add a cron schedule: each slot submits the spec as run <scheduleId>@<slot time>',
        body: z.strictObject({
          scheduleId: z.string().min(1).max(64),
          cron: z.string().min(1).max(200),
          timeZone: z.string().min(1).max(64).optional(),
          spec: z.union([z.string().min(1), z.record(z.string(), z.unknown())]),
          catchUp: z.union([z.enum(['skip', 'latest']), z.strictObject({ all: z.int() })]).optional(),
          overlap: z.enum(['skip', 'allow', 'cancel-previous']).optional(),
        }),
        response: { 201: scheduleViewSchema },
      },
    },
    async (request, reply) => {
      const { scheduleId, cron, timeZone, spec, catchUp, overlap } = request.body;
      const schedule = await service.addSchedule(
        { scheduleId, cron, spec, ...(timeZone ? { timeZone } : {}), ...(catchUp ? { catchUp } : {}), ...(overlap ? { overlap } : {}) },
        request.actor!,
      );
      return reply.status(201).send(schedule);
    },
  );
  app.delete(
    '/v1/schedules/:scheduleId',
    {
      config: { action: 'schedules.manage' },
      schema: {
        operationId: 'deleteSchedule',
        summary: 'Remove a schedule (its runs stay)',
        params: z.strictObject({ scheduleId: z.string().min(1).max(64) }),
        response: { 204: noContentSchema },
      },
    },
    async (request, reply) => {
      await service.removeSchedule(request.params.scheduleId, request.actor!);
      return reply.status(204).send(null);
    },
  );
}
