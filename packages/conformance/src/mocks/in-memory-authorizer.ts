import { createHash, timingSafeEqual } from 'node:crypto';
import type { Actor, AuthenticatedPrincipal, AuthorizationDecision, AuthorizationResource, AuthorizerV1 } from '@cairn/core';

/** One credential an in-memory authorizer knows. */
export interface InMemoryAuthorizerToken {
  readonly token: string;
  readonly actor: Actor;
  readonly scopes: readonly string[];
}

/** Settings of `createInMemoryAuthorizer`. */
export interface InMemoryAuthorizerSettings {
  /** The credentials and what they authenticate to. */
  readonly tokens: readonly InMemoryAuthorizerToken[];
  /** The scope each action requires; an action missing here is denied to everyone. */
  readonly actions: Readonly<Record<string, string>>;
}

/**
 * AuthorizerV1 from a token table. Tokens are kept as SHA-256 digests and compared in constant
 * time, as a real token store must; unknown actions are denied by default.
 */
export class InMemoryAuthorizer implements AuthorizerV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'in-memory';
  readonly #tokens: { digest: Buffer; actor: Actor; scopes: readonly string[] }[];
  readonly #actions: ReadonlyMap<string, string>;

  constructor(settings: InMemoryAuthorizerSettings) {
    this.#tokens = settings.tokens.map((entry) => ({ digest: digest(entry.token), actor: { ...entry.actor }, scopes: [...entry.scopes] }));
    this.#actions = new Map(Object.entries(settings.actions));
  }

  async authenticate(credential: string): Promise<AuthenticatedPrincipal | null> {
    if (typeof credential !== 'string' || credential.length === 0) return null;
    const presented = digest(credential);
    // Compare against every entry so the time taken does not reveal which token nearly matched.
    let found: AuthenticatedPrincipal | null = null;
    for (const entry of this.#tokens) {
      if (timingSafeEqual(entry.digest, presented)) found = { actor: { ...entry.actor }, scopes: [...entry.scopes] };
    }
    return found;
  }

  /** Decides by scope alone: the resource (and its owner) does not widen or narrow what a scope grants. */
  async authorize(principal: AuthenticatedPrincipal, action: string, _resource: AuthorizationResource): Promise<AuthorizationDecision> {
    const scope = this.#actions.get(action);
    if (scope === undefined) return { allowed: false, reason: `action "${action}" is unknown; unknown actions are denied` };
    if (!principal.scopes.includes(scope)) {
      return { allowed: false, reason: `action "${action}" requires scope "${scope}", which ${principal.actor.id} lacks` };
    }
    return { allowed: true, reason: `scope "${scope}" grants "${action}"` };
  }
}

/** Builds an in-memory authorizer. */
export function createInMemoryAuthorizer(settings: InMemoryAuthorizerSettings): InMemoryAuthorizer {
  return new InMemoryAuthorizer(settings);
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
