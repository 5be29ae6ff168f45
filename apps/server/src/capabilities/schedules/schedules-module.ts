import type { EngineModuleContext, ServerModule } from '../../composition/server-module.ts';
import { registerScheduleRoutes } from './schedule-routes.ts';

/**
 * Cron schedules that submit a run spec (or a template) at each slot. The engine keeps and fires
 * them (its `schedules` table and loop); this module is their API.
 */
export const schedulesModule: ServerModule<EngineModuleContext, 'schedules', undefined> = {
  name: 'schedules',
  routes: registerScheduleRoutes,
};
