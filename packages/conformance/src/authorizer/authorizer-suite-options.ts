import type { Actor, AuthorizationResource, AuthorizerV1 } from '@cairn/core';
import type { SuiteOptions } from '../harness/suite-options.ts';

/** An action on a resource, as the suite asks the authorizer about it. */
export interface AuthorizationQuestion {
  readonly action: string;
  /** What is acted on, with its `owner` when the resource has one (a run's submitter). */
  readonly resource: AuthorizationResource;
}

/**
 * What the backend was configured with, stated independently of the authorizer: the suite's
 * oracle. `create` must return an authorizer that knows `credential`.
 */
export interface AuthorizerFixture {
  /** A credential the authorizer accepts. */
  readonly credential: string;
  /** The actor it must authenticate to. */
  readonly actor: Actor;
  /** Questions the actor must be allowed (at least one). */
  readonly allowed: readonly AuthorizationQuestion[];
  /** Questions the actor must be denied, for lack of scope (at least one). */
  readonly denied: readonly AuthorizationQuestion[];
}

/** Options of `describeAuthorizer`. */
export interface AuthorizerSuiteOptions<Instance extends AuthorizerV1 = AuthorizerV1> extends SuiteOptions<Instance, never> {
  readonly fixture: AuthorizerFixture;
}
