import type { StorageProviderV1 } from '@cairn/core';
import type { Engine } from '@cairn/engine';
import { AttemptCredentials } from './attempt-credentials.ts';
import { GatewayServer } from './gateway-server.ts';
import { gatewaySettingsSchema } from './gateway-settings.ts';
import { ModelGateway } from './model-gateway.ts';

/**
 * A gateway on loopback over `engine` alone (no server around it), forwarding OpenAI calls to
 * `openaiBaseUrl` and storing bodies in `storage`: for tests of how a call's entry and its bodies
 * reach disk. No budgets, no prior calls; `credentials` mint the calls' bearer tokens.
 */
export async function listenEngineGateway(options: {
  readonly engine: Engine;
  readonly storage: StorageProviderV1;
  readonly openaiBaseUrl: string;
  readonly keySeed: number;
}): Promise<{ readonly server: GatewayServer; readonly credentials: AttemptCredentials }> {
  const { engine } = options;
  const credentials = new AttemptCredentials(Buffer.alloc(32, options.keySeed));
  const gateway = new ModelGateway({
    gateway: gatewaySettingsSchema.parse({ enabled: true, providers: { openai: { baseUrl: options.openaiBaseUrl } } }),
    service: {
      liveAttempt: (id) => engine.liveAttempt(id),
      recordModelCall: (call, stored) => engine.recordModelCall(call, stored),
      revealSecret: async () => 'sk-test',
      modelCalls: async function* () {},
      budgets: async () => ({}),
      runBudget: async () => undefined,
      awaitBudget: () => false,
    },
    storage: options.storage,
    credentials,
  });
  return { server: await GatewayServer.listen(gateway, '127.0.0.1', 0), credentials };
}
