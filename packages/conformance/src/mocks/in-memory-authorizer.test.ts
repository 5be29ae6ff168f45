import { describeAuthorizer } from '../authorizer/describe-authorizer.ts';
import { createInMemoryAuthorizer } from './in-memory-authorizer.ts';

const actor = { kind: 'token', id: 'ci-bot' } as const;

describeAuthorizer({
  name: 'in-memory',
  create: () =>
    createInMemoryAuthorizer({
      tokens: [
        { token: 'cairn_ci_0123456789abcdef', actor, scopes: ['runs:read', 'runs:write'] },
        { token: 'cairn_admin_fedcba9876543210', actor: { kind: 'user', id: 'admin' }, scopes: ['runs:read', 'runs:write', 'audit:read'] },
      ],
      actions: { 'run.submit': 'runs:write', 'run.read': 'runs:read', 'audit.export': 'audit:read', 'token.create': 'tokens:write' },
    }),
  // The fixture is the token table's truth, stated independently of the authorizer's answers.
  fixture: {
    credential: 'cairn_ci_0123456789abcdef',
    actor,
    allowed: [
      { action: 'run.submit', resource: { kind: 'run', id: 'r1' } },
      { action: 'run.read', resource: { kind: 'run', id: 'r1', owner: actor } },
    ],
    denied: [
      { action: 'audit.export', resource: { kind: 'audit', id: 'log' } },
      { action: 'audit.export', resource: { kind: 'run', id: 'r1', owner: actor } },
      { action: 'token.create', resource: { kind: 'token', id: 't1' } },
    ],
  },
});
