// Issue 52, the spec and policy side (ADR 0049): an allow-list is checked against the server's
// executor.network at submit, and, where the executor cannot enforce one (no sandbox), refused at
// its item's `network` on every way a run is submitted. network: false and true run as before.
// Through a real server, its real config file and real HTTP. (Enforcement itself:
// egress-allow-lists.test.ts.)
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { runningServers } from './running-server.test-support.ts';

const start = runningServers();

interface Refusal {
  readonly code: string;
  readonly message: string;
  readonly path?: string;
  readonly issues?: readonly { readonly path: string; readonly message: string }[];
}

const policy = {
  allow: ['registry.npmjs.org', '*.github.com'],
  deny: ['gist.github.com'],
  credentialHosts: { NPM_TOKEN: ['registry.npmjs.org'] },
};

function specWith(network: unknown, extra: Record<string, unknown> = {}) {
  return {
    version: 1,
    name: 'egress',
    items: [{ id: 'fetch', runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo fetched > out.txt'] }, secrets: ['NPM_TOKEN'], network, ...extra }],
  };
}

async function serverWithPolicy(sandbox: 'bubblewrap' | 'none' = 'bubblewrap') {
  const server = await start('tokens', { config: { executor: { kind: 'local', sandbox, network: policy } } });
  await server.composition.engine.setSecret('NPM_TOKEN', 'npm-secret-value', { kind: 'user', id: 'admin', via: 'cli' });
  const submit = async (spec: unknown) => {
    const response = await server.api('/v1/runs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
    return { status: response.status, answer: (await response.json()) as Refusal & { runId?: string } };
  };
  return { ...server, submit };
}

test(
  'entries outside executor.network.allow, inside its deny, and credentials for unbound hosts: 400 at their JSON paths, naming the option',
  { timeout: 60_000 },
  async () => {
    const { submit, api } = await serverWithPolicy();
    const outside = await submit(specWith({ allow: ['registry.npmjs.org', 'evil.example'] }));
    expect(outside.status).toBe(400);
    expect(outside.answer).toMatchObject({ code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[0].network.allow[1]' });
    expect(outside.answer.message).toContain('executor.network.allow');
    expect(outside.answer.message).toContain('"evil.example"');

    const denied = await submit(specWith({ allow: ['gist.github.com'] }));
    expect(denied).toMatchObject({ status: 400, answer: { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[0].network.allow[0]' } });
    expect(denied.answer.message).toContain('executor.network.deny');

    const unbound = await submit(specWith({ allow: ['registry.npmjs.org', 'api.github.com'], credentials: [{ host: 'api.github.com', secret: 'NPM_TOKEN' }] }));
    expect(unbound).toMatchObject({ status: 400, answer: { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[0].network.credentials[0].host' } });
    expect(unbound.answer.message).toContain('executor.network.credentialHosts.NPM_TOKEN: registry.npmjs.org');

    // Shape problems come back with their paths too, all at once.
    const malformed = await submit(
      specWith({ allow: ['10.1.2.3', 'registry.npmjs.org'], credentials: [{ host: 'registry.npmjs.org', secret: 'OTHER_TOKEN' }] }),
    );
    expect(malformed.status).toBe(400);
    expect(malformed.answer.issues?.map((issue) => issue.path)).toEqual(['$.items[0].network.allow[0]']);
    expect(malformed.answer.message).toContain('name hosts, not addresses');
    const ungranted = await submit(specWith({ allow: ['registry.npmjs.org'], credentials: [{ host: 'registry.npmjs.org', secret: 'OTHER_TOKEN' }] }));
    expect(ungranted.answer.issues?.map((issue) => issue.path)).toContain('$.items[0].network.credentials[0].secret');
    // Nothing of it was stored.
    expect(((await (await api('/v1/runs')).json()) as { runs: unknown[] }).runs).toEqual([]);
  },
);

test(
  'without a sandbox, an allow-list the policy admits is refused all the same: nothing would keep the item to it; network: false and true still run',
  { timeout: 120_000 },
  async () => {
    const { submit, api, composition } = await serverWithPolicy('none');
    const admitted = {
      allow: ['registry.npmjs.org', '*.github.com'],
      credentials: [{ host: 'registry.npmjs.org', secret: 'NPM_TOKEN', as: { header: 'Authorization', value: 'Bearer {secret}' } }],
    };
    const refused = await submit(specWith(admitted));
    expect(refused.status).toBe(400);
    expect(refused.answer).toMatchObject({ code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[0].network' });
    expect(refused.answer.message).toContain('is an allow-list, which executor "local" cannot enforce');
    expect(refused.answer.message).toContain('no executor of this server does');
    expect(refused.answer.message).toContain('network: false');
    expect(refused.answer.issues).toHaveLength(1);

    // Inherited from defaults: refused at the defaults, whose allow-list the item would run under.
    const inherited = {
      version: 1,
      name: 'inherited',
      defaults: { network: { allow: ['registry.npmjs.org'] } },
      items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] } }],
    };
    expect(await submit(inherited)).toMatchObject({ status: 400, answer: { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.defaults.network' } });

    // As YAML, through the same path.
    const yaml = await api('/v1/runs', {
      method: 'POST',
      headers: { 'content-type': 'application/yaml' },
      body: 'version: 1\nname: yaml\nitems:\n  - id: a\n    runtime: { kind: command, argv: ["true"] }\n    network: { allow: [registry.npmjs.org] }\n',
    });
    expect(yaml.status).toBe(400);
    expect(((await yaml.json()) as Refusal).path).toBe('$.items[0].network');
    expect(((await (await api('/v1/runs')).json()) as { runs: unknown[] }).runs).toEqual([]);

    // false and true run as they did.
    for (const network of [false, true]) {
      const accepted = await submit(specWith(network, { id: `network-${network}` }));
      expect(accepted.status, JSON.stringify(accepted.answer)).toBe(201);
      expect((await composition.engine.waitForRun(accepted.answer.runId!)).state).toBe('succeeded');
      const items = (await (await api(`/v1/runs/${accepted.answer.runId}/items`)).json()) as { itemId: string; state: string }[];
      expect(items.map(({ itemId, state }) => ({ itemId, state }))).toEqual([{ itemId: `network-${network}`, state: 'succeeded' }]);
    }
  },
);

test('without a sandbox, a schedule and a template run holding an allow-list are refused at submit too', { timeout: 60_000 }, async () => {
  const templates = mkdtempSync(join(tmpdir(), 'cairn-network-template-'));
  const templateFile = join(templates, 'fetch.json');
  writeFileSync(templateFile, JSON.stringify(specWith({ allow: ['registry.npmjs.org'] })));
  const { api, composition } = await start('tokens', {
    config: { executor: { kind: 'local', sandbox: 'none', network: policy }, templates: { fetch: { spec: templateFile } } },
  });
  await composition.engine.setSecret('NPM_TOKEN', 'npm-secret-value', { kind: 'user', id: 'admin', via: 'cli' });

  const templated = await api('/v1/templates/fetch/runs', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ parameters: {} }),
  });
  expect(templated.status).toBe(400);
  expect((await templated.json()) as Refusal).toMatchObject({ code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[0].network' });

  const scheduled = await api('/v1/schedules', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ scheduleId: 'nightly', cron: '0 3 * * *', spec: specWith({ allow: ['registry.npmjs.org'] }) }),
  });
  expect(scheduled.status).toBe(400);
  expect((await scheduled.json()) as Refusal).toMatchObject({ code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[0].network' });
  expect((await (await api('/v1/schedules')).json()) as unknown[]).toEqual([]);
});
