import type { EngineModuleContext, ServerModule } from '../../composition/server-module.ts';
import { registerAuditRoutes } from './audit-routes.ts';
import { registerBundleRoutes } from './bundle-routes.ts';
import { registerProvenanceRoutes } from './provenance-routes.ts';
import { registerTrajectoryRoutes } from './trajectories/trajectory-routes.ts';

/**
 * What proves what ran: the audit log's entries, checkpoints and proofs, a run's evidence bundle,
 * and a patch's signed provenance. The verifier (`cairn verify`, `verify-evidence.ts`) reads what
 * these answer, offline.
 */
export const evidenceModule: ServerModule<EngineModuleContext, 'evidence', undefined> = {
  name: 'evidence',
  routes(app, composition) {
    registerAuditRoutes(app, composition);
    registerProvenanceRoutes(app, composition);
    registerBundleRoutes(app, composition);
    registerTrajectoryRoutes(app, composition);
  },
};
