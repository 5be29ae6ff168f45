import { CairnError } from '@cairn/protocol';
import { z } from 'zod';
import type { ServerComposition } from '../../composition/server-composition.ts';
import { templateParameterName } from '../triggers/trigger-config-schema.ts';
import type { HttpApp } from '../../http/http-app.ts';
import { bodyLimits } from '../../http/body-limits.ts';
import { noContentSchema, scheduleViewSchema } from '../../http/response-schemas.ts';

/**
 * Cron schedules: anyone with `runs:read` lists them; `admin` adds and removes. A schedule gives a
 * spec, or names a template and its parameters: the template is filled and checked when the
 * schedule is added, and that spec is what every slot submits (pinned, not read again at each
 * firing): what an administrator added and saw checked is what runs, a template edited or removed
 * from the config later changes no schedule already made, and a slot never fails on a template
 * that no longer fills. To take up a changed template, remove the schedule and add it again.
 */
export function registerScheduleRoutes(app: HttpApp, { service, triggers }: ServerComposition): void {
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
        summary:
          'Add a cron schedule: each slot submits the spec (or the template, filled with its parameters when the schedule is added) as run <scheduleId>@<slot time>',
        body: z.strictObject({
          scheduleId: z.string().min(1).max(64),
          cron: z.string().min(1).max(200),
          timeZone: z.string().min(1).max(64).optional(),
          spec: z.union([z.string().min(1), z.record(z.string(), z.unknown())]).optional(),
          template: z
            .strictObject({
              name: z.string().min(1).max(64),
              parameters: z
                .record(z.string().regex(templateParameterName, 'must be a parameter name (issue.title)').max(200), z.string().max(65_536))
                .default({}),
            })
            .optional()
            .meta({
              description: "Instead of spec: a template of the server's config and its parameters, filled and checked now; every slot submits that spec",
            }),
          catchUp: z.union([z.enum(['skip', 'latest']), z.strictObject({ all: z.int() })]).optional(),
          overlap: z.enum(['skip', 'allow', 'cancel-previous']).optional(),
        }),
        response: { 201: scheduleViewSchema },
      },
    },
    async (request, reply) => {
      const { scheduleId, cron, timeZone, template, catchUp, overlap } = request.body;
      if ((request.body.spec === undefined) === (template === undefined))
        throw new CairnError(
          'CAIRN_PAYLOAD_INVALID',
          'A schedule gives either spec (a run spec) or template (a template name and its parameters), not both or neither.',
          {
            path: template === undefined ? 'schedule.spec' : 'schedule.template',
            action: "Send one of the two: spec for a fixed run, template to fill one of the server config's templates.",
          },
        );
      const spec = template === undefined ? request.body.spec : triggers.templates.fill(template.name, template.parameters).document;
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
