import { accessModule } from '../capabilities/access/access-module.ts';
import { dashboardModule } from '../capabilities/dashboard/dashboard-module.ts';
import { evidenceModule } from '../capabilities/evidence/evidence-module.ts';
import { gatewayModule } from '../capabilities/gateway/gateway-module.ts';
import { runnersModule } from '../capabilities/runners/runners-module.ts';
import { schedulesModule } from '../capabilities/schedules/schedules-module.ts';
import { triggersModule } from '../capabilities/triggers/triggers-module.ts';
import { webhooksModule } from '../capabilities/webhooks/webhooks-module.ts';
import type { ServerModule } from './server-module.ts';
import type { StartedParts } from './started-parts.ts';

// The server's capability modules in start order (ADR 0048). The server closes them in reverse, so
// a module is listed after those it uses. A new capability is its folder and one line here.

/** Those the engine is built over: the gateway listens first, since the engine issues its URL; the runners' lease book is one of its executors. */
export const modulesBeforeEngine = [gatewayModule, runnersModule] as const;

/** Those that run on the engine's service, started once it runs and closed before it stops. */
export const modulesAfterEngine = [accessModule, schedulesModule, evidenceModule, dashboardModule, webhooksModule, triggersModule] as const;

/** Every module, in the order their routes are registered. */
export const serverModules = [...modulesBeforeEngine, ...modulesAfterEngine] as const;

/** What each module of `List` started, by its name. */
export type StartedModules<List extends readonly AnyModule[]> = {
  readonly [Module in List[number] as Module['name']]: Module extends ServerModule<never, string, infer Started> ? Started : never;
};

type AnyModule = ServerModule<never, string, unknown>;

/**
 * Starts each module of `list` with `context`, in order, as parts of the server (`StartedParts`:
 * a failure closes those started before it; the server's close closes them in reverse), and
 * answers what each started, by its name.
 */
export async function startModules<Context, List extends readonly ServerModule<Context, string, unknown>[]>(
  parts: StartedParts,
  list: List,
  context: NoInfer<Context>,
): Promise<StartedModules<List>> {
  const started: Record<string, unknown> = {};
  for (const module of list) {
    const { start, close } = module;
    if (start)
      started[module.name] = await parts.startInOrder(
        module.name,
        () => start.call(module, context),
        (part) => close?.call(module, part),
      );
  }
  // One entry per module, under its name, holding what its start gave: the mapped type says exactly that.
  return started as StartedModules<List>;
}
