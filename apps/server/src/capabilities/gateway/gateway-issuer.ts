import type { TaskGateway } from '@cairn/core';
import type { AttemptGatewayIssuer, GatewayAttempt } from '@cairn/engine';
import type { AttemptCredentials } from './attempt-credentials.ts';
import type { GatewaySettings } from './gateway-settings.ts';

/** How long past its attempt's timeout a credential still works: the attempt's last call may end late. */
const credentialGraceMs = 5 * 60_000;

/**
 * Issues each agent attempt the gateway's URL and a credential for the models its item names (its
 * `runtime.model`) and the ones `gateway.models` allows its adapter; command items get none.
 */
export class GatewayIssuer implements AttemptGatewayIssuer {
  readonly #settings: GatewaySettings;
  readonly #credentials: AttemptCredentials;
  readonly #url: () => string;

  constructor(settings: GatewaySettings, credentials: AttemptCredentials, url: () => string) {
    this.#settings = settings;
    this.#credentials = credentials;
    this.#url = url;
  }

  issue(attempt: GatewayAttempt): TaskGateway | undefined {
    const runtime = attempt.spec.runtime;
    if (runtime.kind !== 'agent') return undefined;
    const models = [...new Set([...(runtime.model === undefined ? [] : [runtime.model]), ...(this.#settings.models[runtime.adapter] ?? [])])];
    const credential = this.#credentials.mint({ executionId: attempt.executionId, models, expiresAt: Date.now() + attempt.timeoutMs + credentialGraceMs });
    return { url: this.#url(), credential };
  }
}
