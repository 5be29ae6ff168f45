// Network allow-lists (ADR 0049) in the engine: bounded by its `networkPolicy`, refused at submit
// for an item whose executor does not declare `networkAllowLists`, never dispatched to one all the
// same, and signed into the manifest with the server's deny entries where it does.
import { createInMemoryCipher } from '@cairn/conformance/mocks';
import { isCairnError, manifestKey } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { ana, engineHarness } from './engine.test-support.ts';

const harness = engineHarness('sqlite');
const { runs } = harness;

// An engine holding the secret the specs name, so what is refused is the network alone.
async function engineWith(options: Parameters<typeof harness.engineWith>[0] = {}) {
  const made = await harness.engineWith({ cipher: createInMemoryCipher(), ...options });
  await made.engine.setSecret('NPM_TOKEN', 'npm-secret-value', ana);
  return made;
}

const specWith = (network: unknown) => ({
  version: 1 as const,
  name: 'egress',
  items: [{ id: 'fetch', runtime: { kind: 'command' as const, argv: ['true'] }, secrets: ['NPM_TOKEN'], network } as never],
});

function refusal(submit: () => unknown) {
  try {
    submit();
  } catch (error) {
    if (isCairnError(error)) return { code: error.code, path: error.path, message: error.message, issues: error.issues?.map((issue) => issue.path) };
    throw error;
  }
  return expect.unreachable('the submission was accepted');
}

test('an allow-list is refused at submit at its network; the policy is checked first; false and true are accepted', async () => {
  const { engine } = await engineWith({ networkPolicy: { allow: ['registry.npmjs.org'], credentialHosts: { NPM_TOKEN: ['registry.npmjs.org'] } } });
  expect(refusal(() => engine.submit(specWith({ allow: ['registry.npmjs.org'] }), { actor: ana }))).toMatchObject({
    code: 'CAIRN_RUN_SPEC_INVALID',
    path: '$.items[0].network',
    message: expect.stringContaining('is an allow-list, which executor "local" cannot enforce'),
  });
  expect(refusal(() => engine.submit(specWith({ allow: ['elsewhere.example'] }), { actor: ana }))).toMatchObject({
    path: '$.items[0].network.allow[0]',
    issues: ['$.items[0].network.allow[0]', '$.items[0].network'],
  });
  expect(engine.runs()).toEqual({ runs: [] });
  for (const network of [false, true]) expect(engine.submit(specWith(network), { actor: ana }).created).toBe(true);
});

test('without a policy, no secret is bound to a host: a credential is refused at its host', async () => {
  const { engine } = await engineWith();
  const spec = specWith({ allow: ['registry.npmjs.org'], credentials: [{ host: 'registry.npmjs.org', secret: 'NPM_TOKEN' }] });
  expect(refusal(() => engine.submit(spec, { actor: ana }))).toMatchObject({
    path: '$.items[0].network.credentials[0].host',
    message: expect.stringContaining('(executor.network.credentialHosts.NPM_TOKEN: none)'),
  });
});

test('an allow-list that reached the store all the same (a caller claiming enforcement) fails its item undispatched', async () => {
  const { engine } = await engineWith();
  engine.start();
  const { runId } = engine.submit(specWith({ allow: ['registry.npmjs.org'] }), {
    actor: ana,
    secretGrants: 'all',
    context: { executors: ['local'], networkAllowListExecutors: ['local'], defaultExecutor: 'local' },
  });
  const run = await engine.waitForRun(runId);
  expect(run.state).toBe('failed');
  const [item] = engine.items(runId);
  expect(item).toMatchObject({ state: 'failed', failure: { code: 'CAIRN_RUN_SPEC_INVALID', message: expect.stringContaining('allow-list') } });
  expect(engine.attempts(runId, 'fetch')).toEqual([]);
  expect([...runs.keys()].filter((executionId) => executionId.startsWith(runId))).toEqual([]);
});

test('on an executor that enforces allow-lists, the manifest carries the entries, the credentials and the server deny entries', async () => {
  const made = await engineWith({
    networkPolicy: { deny: ['internal.example.com'], credentialHosts: { NPM_TOKEN: ['registry.npmjs.org'] } },
  });
  // The in-memory executor confines nothing: declared here to see what the engine sends one that does.
  Object.defineProperty(made.executor, 'capabilities', { value: { ...made.executor.capabilities, networkAllowLists: true } });
  made.engine.start();
  const network = {
    allow: ['registry.npmjs.org', '*.example.com'],
    credentials: [{ host: 'registry.npmjs.org', secret: 'NPM_TOKEN', as: { header: 'Authorization', value: 'Bearer {secret}' } }],
  };
  const { runId } = made.engine.submit(specWith(network), { actor: ana, secretGrants: 'all' });
  expect((await made.engine.waitForRun(runId)).state).toBe('succeeded');
  const [attempt] = made.engine.attempts(runId, 'fetch');
  const envelope = JSON.parse(new TextDecoder().decode((await made.storage.get(manifestKey(attempt!.manifestDigest as never)))!)) as { payload: string };
  const manifest = JSON.parse(Buffer.from(envelope.payload, 'base64').toString()) as { limits: { network: unknown } };
  expect(manifest.limits.network).toEqual({ ...network, deny: ['internal.example.com'] });
});
