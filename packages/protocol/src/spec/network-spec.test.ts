import type { RunSpecV1 } from '@cairn/core';
import { describe, expect, test } from 'vitest';
import { entriesCover, parseHostEntry, validateRunSpec, type RunSpecContext } from '../index.ts';
import { issuesOf } from './run-spec.test-support.ts';

const specWith = (network: unknown, extra: Record<string, unknown> = {}) => ({
  version: 1,
  name: 'egress',
  items: [{ id: 'fetch', runtime: { kind: 'command', argv: ['npm', 'ci'] }, secrets: ['NPM_TOKEN'], ...(network === undefined ? {} : { network }), ...extra }],
});
const problems = (document: unknown, context: RunSpecContext = {}) => {
  const result = validateRunSpec(document, context);
  return result.ok ? [] : result.issues.map(({ path, message }) => ({ path, message }));
};

describe('network in a run spec', () => {
  test('false, true and an allow-list with credentials are accepted as written', () => {
    for (const network of [false, true, { allow: ['registry.npmjs.org', '*.githubusercontent.com', 'api.example.com:8443', 'Example.COM.'] }]) {
      expect(validateRunSpec(specWith(network))).toMatchObject({ ok: true, spec: { items: [{ network }] } });
    }
    const brokered = {
      allow: ['registry.npmjs.org'],
      credentials: [{ host: 'registry.npmjs.org', secret: 'NPM_TOKEN', as: { header: 'Authorization', value: 'Bearer {secret}' } }],
    };
    expect(validateRunSpec(specWith(brokered)).ok).toBe(true);
    expect(validateRunSpec({ ...specWith(undefined), defaults: { network: { allow: ['*.example.com:8080'] } } }).ok).toBe(true);
  });

  test('each malformed entry is refused at its JSON path, saying what to write', () => {
    const issues = issuesOf(
      specWith({ allow: ['10.0.0.7', '[::1]:443', 'ok.example', '*.com', 'a..b', 'x.example:0', 'mid.*.example', 'host_name.example', '2130706433'] }),
    );
    expect(issues.map((issue) => issue.path)).toEqual([
      '$.items[0].network.allow[0]',
      '$.items[0].network.allow[1]',
      '$.items[0].network.allow[3]',
      '$.items[0].network.allow[4]',
      '$.items[0].network.allow[5]',
      '$.items[0].network.allow[6]',
      '$.items[0].network.allow[7]',
      '$.items[0].network.allow[8]',
    ]);
    expect(issues[0]!.message).toContain('name hosts, not addresses');
    expect(issues[1]!.message).toContain('name hosts, not addresses');
    expect(issues[2]!.message).toContain('top-level domain "com"');
    expect(issues[4]!.message).toContain('a port is a whole number from 1 to 65535');
    expect(issues[5]!.message).toContain('"*" only as its first label');
    expect(issues[7]!.message).toContain('name hosts, not addresses');
    expect(issues.every((issue) => issue.code === 'CAIRN_RUN_SPEC_INVALID')).toBe(true);
  });

  test('an empty allow-list, another type and an unknown field are refused where they are', () => {
    expect(problems(specWith({ allow: [] }))).toEqual([
      { path: '$.items[0].network.allow', message: 'must list at least one host (use network: false for none).' },
    ]);
    expect(problems(specWith('yes'))[0]).toMatchObject({
      path: '$.items[0].network',
      message: expect.stringContaining('must be true (unrestricted), false (none, the default) or an allow list'),
    });
    expect(problems(specWith({ allow: ['a.example'], hosts: [] }))).toEqual([
      { path: '$.items[0].network.hosts', message: expect.stringContaining('is not a field here') },
    ]);
  });

  test('a credential: one admitted host, a secret of the item, a header value holding {secret}', () => {
    const network = {
      allow: ['*.example.com'],
      credentials: [
        { host: 'api.example.com', secret: 'NPM_TOKEN', as: { header: 'Authorization', value: 'Bearer token' } },
        { host: 'other.example.org', secret: 'NPM_TOKEN' },
        { host: '*.example.com', secret: 'NPM_TOKEN' },
        { host: 'api.example.com', secret: 'DEPLOY_KEY' },
        { host: 'api.example.com', secret: 'NPM_TOKEN', as: { header: 'Bad Header', value: '{secret}' } },
      ],
    };
    expect(problems(specWith(network))).toEqual([
      { path: '$.items[0].network.credentials[0].as.value', message: 'must hold {secret} where the secret goes, e.g. "Bearer {secret}".' },
      { path: '$.items[0].network.credentials[2].host', message: expect.stringContaining('names one host, so it takes no wildcard') },
      { path: '$.items[0].network.credentials[4].as.header', message: 'must be an HTTP header name, e.g. Authorization.' },
      {
        path: '$.items[0].network.credentials[1].host',
        message: expect.stringContaining('is not admitted by this network\'s allow list: add "other.example.org"'),
      },
    ]);
    const ungranted = problems(specWith({ allow: ['api.example.com'], credentials: [{ host: 'api.example.com', secret: 'DEPLOY_KEY' }] }));
    expect(ungranted).toEqual([
      {
        path: '$.items[0].network.credentials[0].secret',
        message: expect.stringContaining(
          "names the secret DEPLOY_KEY, which this item is not given: add it to the item's secrets (secrets: [NPM_TOKEN, DEPLOY_KEY])",
        ),
      },
    ]);
  });

  test('a credential in defaults needs its secret in every item inheriting the network', () => {
    const spec = {
      version: 1,
      name: 'egress',
      defaults: { network: { allow: ['registry.npmjs.org'], credentials: [{ host: 'registry.npmjs.org', secret: 'NPM_TOKEN' }] } },
      items: [
        { id: 'given', runtime: { kind: 'command', argv: ['true'] }, secrets: ['NPM_TOKEN'] },
        { id: 'without', runtime: { kind: 'command', argv: ['true'] } },
        { id: 'own', runtime: { kind: 'command', argv: ['true'] }, network: false },
      ],
    };
    expect(problems(spec)).toEqual([
      { path: '$.defaults.network.credentials[0].secret', message: expect.stringContaining('which item without inheriting this network is not given') },
    ]);
  });
});

describe("the server's network policy", () => {
  const policy: RunSpecContext = {
    networkPolicy: {
      allow: ['registry.npmjs.org', '*.github.com', 'api.example.com:8443'],
      deny: ['gist.github.com', '*.internal.github.com'],
      credentialHosts: { NPM_TOKEN: ['registry.npmjs.org'] },
    },
  };

  test('entries inside allow and outside deny pass; others are refused at their path, naming the option', () => {
    expect(problems(specWith({ allow: ['registry.npmjs.org', 'api.github.com', '*.api.github.com', 'api.example.com:8443'] }), policy)).toEqual([]);
    const refused = problems(
      specWith({ allow: ['evil.example', '*.npmjs.org', 'api.example.com', 'gist.github.com', 'a.internal.github.com', 'api.github.com:22'] }),
      policy,
    );
    expect(refused.map((issue) => issue.path)).toEqual([0, 1, 2, 3, 4, 5].map((index) => `$.items[0].network.allow[${index}]`));
    expect(refused[0]!.message).toContain(
      "which this server's network policy does not allow (executor.network.allow: registry.npmjs.org, *.github.com, api.example.com:8443)",
    );
    expect(refused[0]!.message).toContain("add it to executor.network.allow in the server's config");
    expect(refused[3]!.message).toContain('executor.network.deny');
    expect(refused[4]!.message).toContain('executor.network.deny');
  });

  test('a credential goes only to a host its secret is bound to in credentialHosts', () => {
    const network = (host: string, secret = 'NPM_TOKEN') => ({ allow: ['registry.npmjs.org', 'api.github.com'], credentials: [{ host, secret }] });
    expect(problems(specWith(network('registry.npmjs.org')), policy)).toEqual([]);
    expect(problems(specWith(network('api.github.com')), policy)).toEqual([
      {
        path: '$.items[0].network.credentials[0].host',
        message: expect.stringContaining(
          'sends the secret NPM_TOKEN to "api.github.com", a host this server does not bind it to (executor.network.credentialHosts.NPM_TOKEN: registry.npmjs.org)',
        ),
      },
    ]);
    const unbound = problems(specWith(network('api.github.com', 'GH_TOKEN'), { secrets: ['GH_TOKEN'] }), policy);
    expect(unbound).toEqual([
      { path: '$.items[0].network.credentials[0].host', message: expect.stringContaining('(executor.network.credentialHosts.GH_TOKEN: none)') },
    ]);
  });

  test('the policy bounds allow-lists in defaults too', () => {
    const spec = { ...specWith(undefined), defaults: { network: { allow: ['elsewhere.example'] } } };
    expect(problems(spec, policy)).toEqual([{ path: '$.defaults.network.allow[0]', message: expect.stringContaining('executor.network.allow') }]);
  });
});

describe('allow-lists where the executor cannot enforce them', () => {
  const onLocal: RunSpecContext = { networkAllowListExecutors: ['local'], defaultExecutor: 'local' };

  test("an item's own allow-list, or the defaults' it inherits, is refused at that network when its executor cannot enforce it", () => {
    const onFargate = (network: unknown) => specWith(network, { executor: 'fargate' });
    expect(problems(onFargate({ allow: ['registry.npmjs.org'] }), onLocal)).toEqual([
      { path: '$.items[0].network', message: expect.stringContaining('which executor "fargate" cannot enforce (ADR 0049') },
    ]);
    expect(problems(onFargate({ allow: ['registry.npmjs.org'] }), onLocal)[0]!.message).toContain('only executor "local" does');
    // On the executor that enforces it, named or by default, it passes.
    expect(problems(specWith({ allow: ['registry.npmjs.org'] }), onLocal)).toEqual([]);
    const inherited: RunSpecV1 = {
      version: 1,
      name: 'egress',
      defaults: { network: { allow: ['registry.npmjs.org'] }, executor: 'fargate' },
      items: [{ id: 'inherits', runtime: { kind: 'command', argv: ['true'] } }],
    };
    expect(problems(inherited, onLocal)).toEqual([
      { path: '$.defaults.network', message: expect.stringContaining('use network: false (no network) or network: true (unrestricted)') },
    ]);
    // Every item sets its own network: the defaults' allow-list reaches none of them.
    expect(problems({ ...inherited, items: [{ ...inherited.items[0]!, network: true }] }, onLocal)).toEqual([]);
    expect(problems(onFargate(false), onLocal)).toEqual([]);
    expect(problems(onFargate(true), onLocal)).toEqual([]);
  });

  test('a server none of whose executors enforces one says so', () => {
    expect(problems(specWith({ allow: ['registry.npmjs.org'] }), { networkAllowListExecutors: [], defaultExecutor: 'local' })[0]!.message).toContain(
      'no executor of this server does',
    );
  });
});

test('entriesCover: a wildcard covers names below its domain, never the domain; ports 443 and 80 unless one is given', () => {
  const covers = (outer: string[], inner: string) => entriesCover(outer.map(parseHostEntry), parseHostEntry(inner));
  expect(covers(['*.example.com'], 'a.b.example.com')).toBe(true);
  expect(covers(['*.example.com'], '*.b.example.com')).toBe(true);
  expect(covers(['*.example.com'], 'example.com')).toBe(false);
  expect(covers(['a.example.com'], '*.example.com')).toBe(false);
  expect(covers(['A.Example.com.'], 'a.example.COM')).toBe(true);
  expect(covers(['a.example.com:443'], 'a.example.com')).toBe(false);
  expect(covers(['a.example.com:443', 'a.example.com:80'], 'a.example.com')).toBe(true);
  expect(covers(['a.example.com'], 'a.example.com:8443')).toBe(false);
});
