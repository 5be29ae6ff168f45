import { expect } from 'vitest';
import type { AuthenticatedPrincipal, AuthorizationDecision, AuthorizerV1 } from '@cairn/core';
import type { ConformanceCase } from '../harness/conformance-case.ts';
import { describeError } from '../harness/expect-cairn-error.ts';
import { fail } from '../harness/fail.ts';
import type { AuthorizerSuiteOptions } from './authorizer-suite-options.ts';

/** One authorizer case. */
export type AuthorizerCase = ConformanceCase<AuthorizerV1, never, AuthorizerSuiteOptions>;

async function authenticateOrFail(authorizer: AuthorizerV1, credential: string): Promise<AuthenticatedPrincipal> {
  const principal = await authorizer.authenticate(credential);
  if (principal === null) fail('authenticate(fixture.credential) resolved to null; the fixture credential must be known');
  return principal;
}

function expectReason(decision: AuthorizationDecision, what: string): void {
  expect(typeof decision.reason, `${what}: reason is a string`).toBe('string');
  expect(decision.reason.trim().length, `${what}: reason is not empty`).toBeGreaterThan(0);
}

/** The AuthorizerV1 cases, in registration order; exported for meta-tests. */
export const authorizerCases: readonly AuthorizerCase[] = [
  {
    id: 'unknown-credential-null',
    title: 'an empty, unknown or malformed credential authenticates to null and never throws',
    async run({ instance, options }) {
      const known = options.fixture.credential;
      const candidates = [
        '',
        ' ',
        'not-a-token',
        `${known}x`,
        known.slice(0, -1),
        `${known} `,
        ` ${known}`,
        `Bearer ${known}`,
        known.toUpperCase() === known ? known.toLowerCase() : known.toUpperCase(),
        `${known.slice(0, -1)}${known.endsWith('a') ? 'b' : 'a'}`,
        '\u0000',
        'é日本😀',
        'x'.repeat(100_000),
      ].filter((candidate) => candidate !== known);
      for (const candidate of candidates) {
        const shown = JSON.stringify(candidate.slice(0, 30));
        let principal: AuthenticatedPrincipal | null;
        try {
          principal = await instance.authenticate(candidate);
        } catch (error) {
          fail(`authenticate(${shown}) threw (${describeError(error)}); an unknown credential is null`);
        }
        expect(principal, `authenticate(${shown})`).toBeNull();
      }
    },
  },
  {
    id: 'known-credential-actor',
    title: 'the known credential authenticates to its actor',
    async run({ instance, options }) {
      const principal = await authenticateOrFail(instance, options.fixture.credential);
      expect(principal.actor).toEqual(options.fixture.actor);
    },
  },
  {
    id: 'allows-in-scope',
    title: 'an action within the actor’s scopes is allowed, with a reason',
    async run({ instance, options }) {
      expect(options.fixture.allowed.length, 'fixture.allowed must not be empty').toBeGreaterThan(0);
      const principal = await authenticateOrFail(instance, options.fixture.credential);
      for (const question of options.fixture.allowed) {
        const decision = await instance.authorize(principal, question.action, question.resource);
        expect(decision.allowed, `${question.action} on ${question.resource.kind}:${question.resource.id}`).toBe(true);
        expectReason(decision, question.action);
      }
    },
  },
  {
    id: 'denies-out-of-scope',
    title: 'an action outside the actor’s scopes is denied, with a reason',
    async run({ instance, options }) {
      expect(options.fixture.denied.length, 'fixture.denied must not be empty').toBeGreaterThan(0);
      const principal = await authenticateOrFail(instance, options.fixture.credential);
      for (const question of options.fixture.denied) {
        const decision = await instance.authorize(principal, question.action, question.resource);
        expect(decision.allowed, `${question.action} on ${question.resource.kind}:${question.resource.id}`).toBe(false);
        expectReason(decision, question.action);
      }
    },
  },
  {
    id: 'denies-unknown-action',
    title: 'an action the authorizer does not know is denied by default, with a reason',
    async run({ instance, options }) {
      const principal = await authenticateOrFail(instance, options.fixture.credential);
      const resource = options.fixture.allowed[0]?.resource ?? { kind: 'run', id: 'conformance' };
      for (const action of ['conformance.unknown-action', '', '*', 'run.*']) {
        const decision = await instance.authorize(principal, action, resource);
        expect(decision.allowed, `unknown action ${JSON.stringify(action)}`).toBe(false);
        expectReason(decision, `unknown action ${JSON.stringify(action)}`);
      }
    },
  },
  {
    id: 'decisions-are-stable',
    title: 'the same question gets the same answer, also when asked concurrently',
    async run({ instance, options }) {
      const principal = await authenticateOrFail(instance, options.fixture.credential);
      const questions = [...options.fixture.allowed, ...options.fixture.denied];
      const rounds = await Promise.all(
        Array.from({ length: 5 }, () => Promise.all(questions.map((question) => instance.authorize(principal, question.action, question.resource)))),
      );
      for (const round of rounds) expect(round.map((decision) => decision.allowed)).toEqual(rounds[0]!.map((decision) => decision.allowed));
    },
  },
];
