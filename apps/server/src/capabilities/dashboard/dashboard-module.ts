import type { EngineModuleContext, ServerModule } from '../../composition/server-module.ts';
import { registerDashboardRoutes } from './dashboard-routes.ts';

/** The dashboard's static files at `/dashboard/`: every piece of data it shows comes from the /v1 API. */
export const dashboardModule: ServerModule<EngineModuleContext, 'dashboard', undefined> = {
  name: 'dashboard',
  routes: (app) => registerDashboardRoutes(app),
};
