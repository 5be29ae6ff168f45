import type { EngineModuleContext, ServerModule } from '../../composition/server-module.ts';
import { registerOidcSignInRoutes } from './oidc-sign-in-routes.ts';
import { registerSessionRoutes } from './session-routes.ts';
import { registerTokenRoutes } from './token-routes.ts';

/**
 * Who may do what: bearer tokens (hashed, each with its principal), sign-in through the identity
 * provider, and the sessions the dashboard and CLI sign in with. The token store and the
 * authorizers are built with the server's stores (composition), since every route checks them.
 */
export const accessModule: ServerModule<EngineModuleContext, 'access', undefined> = {
  name: 'access',
  routes(app, composition, { auth }) {
    registerTokenRoutes(app, composition);
    registerSessionRoutes(app, composition, auth);
    registerOidcSignInRoutes(app, composition);
  },
};
