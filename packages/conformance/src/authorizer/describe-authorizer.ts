import type { AuthorizerV1 } from '@cairn/core';
import { registerSuite } from '../harness/register-suite.ts';
import { authorizerCases } from './authorizer-cases.ts';
import type { AuthorizerSuiteOptions } from './authorizer-suite-options.ts';

/**
 * Registers the AuthorizerV1 conformance suite against `options.fixture`, the credential, actor
 * and decisions the backend was configured with.
 */
export function describeAuthorizer<Instance extends AuthorizerV1>(options: AuthorizerSuiteOptions<Instance>): void {
  // Widening is sound: every instance handed back to the options came from `options.create`.
  registerSuite('AuthorizerV1', authorizerCases, options as unknown as AuthorizerSuiteOptions);
}
