import { join } from 'node:path';
import type { ItemSpec, Logger, RunSpecV1, StorageProviderV1 } from '@cairn/core';
import type { EngineService, LiveAttempt, ModelCall } from '@cairn/engine';
import { AttemptCredentials } from './attempt-credentials.ts';
import { GatewayIssuer } from './gateway-issuer.ts';
import { GatewayServer } from './gateway-server.ts';
import type { GatewaySettings } from './gateway-settings.ts';
import { ModelGateway, type GatewayService } from './model-gateway.ts';
import { currentRunBudget } from './run-budget.ts';
import type { QuotaLedger } from './quota-ledger.ts';

/** A running gateway: what the engine issues to attempts, and how to stop it. */
export interface RunningGateway {
  readonly issuer: GatewayIssuer;
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Starts the model gateway of a server (ADR 0033), listening before the engine starts so that
 * the first agent attempt already gets its URL. It reaches the engine through its service (read per
 * call): with PostgreSQL only the replica holding the writer lease records calls.
 */
export async function startGateway(
  settings: GatewaySettings,
  options: {
    readonly dataDirectory: string;
    readonly storage: StorageProviderV1;
    /** Read per call: it exists once the engine's host does. */
    readonly service: () => EngineService;
    /** Where the quotas are counted (the state database's, on PostgreSQL), closed with the gateway; default: in this process. */
    readonly quotaLedger?: QuotaLedger;
    readonly logger?: Logger;
    /** Told of each call recorded, with its attempt (the server's metrics and traces). */
    readonly observe?: (call: ModelCall, attempt: LiveAttempt) => void;
  },
): Promise<RunningGateway> {
  const credentials = await AttemptCredentials.fromKeyFile(settings.credentialKeyFile ?? join(options.dataDirectory, 'gateway.key'));
  const gateway = new ModelGateway({
    gateway: settings,
    service: gatewayServiceOver(options.service),
    storage: options.storage,
    credentials,
    ...(options.quotaLedger ? { quotaLedger: options.quotaLedger } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.observe ? { observe: options.observe } : {}),
  });
  const server = await GatewayServer.listen(gateway, settings.host, settings.port).catch(async (error: unknown) => {
    await options.quotaLedger?.close();
    throw error;
  });
  const url = settings.publicUrl ?? server.url;
  const close = async () => {
    await server.close();
    // After the last call: those cut short by the close have released their room already.
    await options.quotaLedger?.close();
  };
  return { issuer: new GatewayIssuer(settings, credentials, () => url), url, close };
}

function gatewayServiceOver(service: () => EngineService): GatewayService {
  // A run's spec never changes: read once per run (a bounded number kept), not once per call.
  const specs = new Map<string, Promise<RunSpecV1 | undefined>>();
  const specOf = (runId: string) => {
    let spec = specs.get(runId);
    if (spec === undefined) {
      if (specs.size >= 1_000) specs.delete(specs.keys().next().value!);
      spec = service().spec(runId);
      specs.set(runId, spec);
    }
    return spec;
  };
  return {
    liveAttempt: (executionId) => service().modelCalls.liveAttempt(executionId),
    recordModelCall: (call, stored) => service().modelCalls.recordModelCall(call, stored),
    revealSecret: (name, purpose) => service().modelCalls.revealSecret(name, purpose),
    modelCalls: (runId) => service().auditEntries({ runId, action: 'model.called' }),
    awaitBudget: (runId, data) => service().modelCalls.awaitBudget(runId, data),
    runBudget: async (runId) => currentRunBudget(service().auditEntries({ runId, action: 'run.budget-raised' }), (await specOf(runId))?.budget),
    budgets: async (runId, itemId) => {
      const spec = await specOf(runId);
      const item: ItemSpec | undefined = spec?.items.find((candidate) => candidate.id === itemId);
      const itemBudget = item?.budget ?? spec?.defaults?.budget;
      return { ...(spec?.budget ? { run: spec.budget } : {}), ...(itemBudget ? { item: itemBudget } : {}) };
    },
  };
}
