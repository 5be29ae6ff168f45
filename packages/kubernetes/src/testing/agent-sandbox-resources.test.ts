// The endpoint serves agent-sandbox's SandboxClaim and SandboxWarmPool where their CRDs are
// installed, checking everything it is sent against the project's published schemas (read from
// its CRD files at test time), through the real client-node; without the CRDs the routes are 404.
import { CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { attemptSandboxClaim, sandboxClaimResource } from '../executor/attempt-sandbox-claim.ts';
import { executionDigestOf, ownerDigestOf, podNameOf } from '../executor/execution-labels.ts';
import { readCrd } from './crd-schema.test-support.ts';
import { KubernetesTestEndpoint } from './kubernetes-test-endpoint.ts';

let withCrds: KubernetesTestEndpoint;
let without: KubernetesTestEndpoint;
beforeAll(async () => {
  const customResourceDefinitions = ['extensions.agents.x-k8s.io_sandboxclaims.yaml', 'extensions.agents.x-k8s.io_sandboxwarmpools.yaml'].map(
    (file) => readCrd(file).document,
  );
  withCrds = await KubernetesTestEndpoint.start({ images: {}, customResourceDefinitions });
  without = await KubernetesTestEndpoint.start({ images: {} });
});
afterAll(async () => {
  await withCrds?.stop();
  await without?.stop();
});

const { group, version, plural } = sandboxClaimResource;
const executionId = 'run-claimed-1/build/1';
const claim = attemptSandboxClaim({
  name: podNameOf(executionId),
  executionId,
  executionDigest: executionDigestOf(executionId),
  ownerDigest: ownerDigestOf({ bucket: 'acme-cairn', prefix: 'cairn/' }),
  manifestDigest: `sha256:${'b'.repeat(64)}`,
  run: { runId: 'run-claimed-1', itemId: 'build', attempt: 1 },
  warmPool: 'cairn-workers',
  dispatchedAtMs: Date.parse('2026-11-28T10:00:00Z'),
  timeoutMs: 60_000,
});
const status = (error: unknown) => {
  const { code, body } = error as { code?: number; body?: unknown };
  return { code, body: typeof body === 'string' ? (JSON.parse(body) as Record<string, unknown>) : (body as Record<string, unknown>) };
};

test("an operator's warm pool and the executor's claim are stored as the API server stores them, read back and deleted", async () => {
  const api = withCrds.kubeConfig().makeApiClient(CustomObjectsApi);
  const namespace = withCrds.namespace;
  const pool = {
    apiVersion: `${group}/${version}`,
    kind: 'SandboxWarmPool',
    metadata: { name: 'cairn-workers' },
    spec: { replicas: 2, sandboxTemplateRef: { name: 'cairn-worker' } },
  };
  await api.createNamespacedCustomObject({ group, version, namespace, plural: 'sandboxwarmpools', body: pool });
  const created = (await api.createNamespacedCustomObject({ group, version, namespace, plural, body: claim })) as Record<string, any>;
  expect(created).toMatchObject({ ...claim, metadata: { ...claim.metadata, namespace, uid: expect.any(String), resourceVersion: expect.any(String) } });
  const read = (await api.getNamespacedCustomObject({ group, version, namespace, plural, name: claim.metadata.name })) as Record<string, any>;
  expect(read['spec']).toEqual(claim.spec);
  // The name is the attempt's: a second start meets the first claim.
  await expect(api.createNamespacedCustomObject({ group, version, namespace, plural, body: claim }).catch(status)).resolves.toMatchObject({
    code: 409,
    body: { reason: 'AlreadyExists' },
  });
  await api.deleteNamespacedCustomObject({ group, version, namespace, plural, name: claim.metadata.name });
  expect(withCrds.wasDeleted('sandboxclaims', claim.metadata.name)).toBe(true);
});

test('a claim the published schema refuses is answered 422 Invalid, naming the field, and nothing is stored', async () => {
  const api = withCrds.kubeConfig().makeApiClient(CustomObjectsApi);
  const namespace = withCrds.namespace;
  const { warmPoolRef: _pool, ...noPool } = claim.spec;
  const refusals = [
    [
      { ...claim, metadata: { ...claim.metadata, name: 'no-pool' }, spec: noPool },
      { reason: 'FieldValueRequired', field: 'spec.warmPoolRef' },
    ],
    [
      { ...claim, metadata: { ...claim.metadata, name: 'bad-policy' }, spec: { ...claim.spec, lifecycle: { shutdownPolicy: 'Remove' } } },
      { reason: 'FieldValueNotSupported', field: 'spec.lifecycle.shutdownPolicy' },
    ],
    [
      { ...claim, metadata: { ...claim.metadata, name: 'template-ref' }, spec: { ...claim.spec, sandboxTemplateRef: { name: 'x' } } },
      { reason: 'FieldValueInvalid', field: 'spec.sandboxTemplateRef' },
    ],
  ] as const;
  for (const [body, cause] of refusals) {
    const refused = await api.createNamespacedCustomObject({ group, version, namespace, plural, body }).then(() => undefined, status);
    expect(refused, body.metadata.name).toMatchObject({
      code: 422,
      body: { reason: 'Invalid', details: { kind: 'SandboxClaim', causes: [expect.objectContaining(cause)] } },
    });
    expect(withCrds.object('sandboxclaims', body.metadata.name)).toBeUndefined();
  }
});

test('a cluster without the agent-sandbox CRDs answers their routes 404, as a real one does', async () => {
  const api = without.kubeConfig().makeApiClient(CustomObjectsApi);
  await expect(api.createNamespacedCustomObject({ group, version, namespace: without.namespace, plural, body: claim }).catch(status)).resolves.toMatchObject({
    code: 404,
    body: { reason: 'NotFound' },
  });
});
