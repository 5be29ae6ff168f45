// Each claim the executor would send is checked against the agent-sandbox project's own published
// SandboxClaim schema (its CRD file, read at test time), and the check is shown to refuse what
// the real API refuses: a field of another version, a policy it does not know, a missing pool.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { awaitClaimedAttempt, readTaskEnvironment, sealedSecretsKey, taskEnvironmentPairs } from '@cairn/fargate';
import { expect, test } from 'vitest';
import { checkSchema, readCrd } from '../testing/crd-schema.test-support.ts';
import { formatMap } from '../testing/downward-api-volume.ts';
import { attemptSandboxClaim, sandboxClaimResource } from './attempt-sandbox-claim.ts';
import { executionDigestOf, ownerDigestOf, podNameOf } from './execution-labels.ts';

const claims = readCrd('extensions.agents.x-k8s.io_sandboxclaims.yaml');
const schema = claims.schemas.get(sandboxClaimResource.version)!;
const executionId = 'run-claims-1/build:linux/2';
const claim = attemptSandboxClaim({
  name: podNameOf(executionId),
  executionId,
  executionDigest: executionDigestOf(executionId),
  ownerDigest: ownerDigestOf({ bucket: 'acme-cairn', prefix: 'cairn/' }),
  manifestDigest: `sha256:${'a'.repeat(64)}`,
  run: { runId: 'run-claims-1', itemId: 'build:linux', attempt: 2 },
  warmPool: 'cairn-workers',
  dispatchedAtMs: Date.parse('2026-11-28T10:00:00.250Z'),
  timeoutMs: 600_000,
});

test('the claim names the group, version and kind the project serves, and conforms to its v1beta1 schema', () => {
  expect({ group: claims.group, kind: claims.kind, plural: claims.plural }).toEqual({
    group: sandboxClaimResource.group,
    kind: sandboxClaimResource.kind,
    plural: sandboxClaimResource.plural,
  });
  expect([...claims.schemas.keys()].sort()).toEqual(['v1alpha1', 'v1beta1']);
  expect(claim.apiVersion).toBe('extensions.agents.x-k8s.io/v1beta1');
  expect(checkSchema(schema, claim)).toEqual([]);
});

test("the attempt reaches the claimed pod as annotations, with the labels the pod watch and the sweep select by; the sandbox ends past the item's timeout", () => {
  const labels = {
    'app.kubernetes.io/managed-by': 'cairn',
    'cairn.dev/execution': executionDigestOf(executionId),
    'cairn.dev/owner': ownerDigestOf({ bucket: 'acme-cairn', prefix: 'cairn/' }),
    'cairn.dev/run': 'run-claims-1',
    'cairn.dev/item': 'build-linux',
    'cairn.dev/attempt': '2',
  };
  const annotations = { 'cairn.dev/execution-id': executionId, 'cairn.dev/manifest-digest': `sha256:${'a'.repeat(64)}` };
  expect(claim).toEqual({
    apiVersion: 'extensions.agents.x-k8s.io/v1beta1',
    kind: 'SandboxClaim',
    metadata: { name: podNameOf(executionId), labels, annotations },
    spec: {
      warmPoolRef: { name: 'cairn-workers' },
      // 10:00:00.250 + 600 s + the 120 s margin, rounded up to the second.
      lifecycle: { shutdownTime: '2026-11-28T10:12:01Z', shutdownPolicy: 'Delete' },
      additionalPodMetadata: { labels, annotations },
    },
  });
  // Nothing that would force a cold start, nor anything secret: no env, no volumes.
  expect(Object.keys(claim.spec).sort()).toEqual(['additionalPodMetadata', 'lifecycle', 'warmPoolRef']);
});

test.each<[string, (spec: Record<string, unknown>) => Record<string, unknown>, { path: string; message: RegExp }]>([
  [
    'a template reference (a claim names a warm pool)',
    (spec) => ({ ...spec, sandboxTemplateRef: { name: 'cairn' } }),
    { path: 'spec.sandboxTemplateRef', message: /unknown field/ },
  ],
  ['no warm pool', ({ warmPoolRef: _pool, ...spec }) => spec, { path: 'spec.warmPoolRef', message: /required/ }],
  [
    'a shutdown policy the API does not know',
    (spec) => ({ ...spec, lifecycle: { shutdownPolicy: 'Remove' } }),
    { path: 'spec.lifecycle.shutdownPolicy', message: /one of "Delete", "DeleteForeground", "Retain"/ },
  ],
  [
    'a shutdown time that is no date-time',
    (spec) => ({ ...spec, lifecycle: { shutdownTime: 'in ten minutes' } }),
    { path: 'spec.lifecycle.shutdownTime', message: /date-time/ },
  ],
  [
    'a negative TTL',
    (spec) => ({ ...spec, lifecycle: { ttlSecondsAfterFinished: -1 } }),
    { path: 'spec.lifecycle.ttlSecondsAfterFinished', message: /at least 0/ },
  ],
])('the schema check refuses %s, as the API server would', (_what, change, expected) => {
  const problems = checkSchema(schema, { ...claim, spec: change(claim.spec as unknown as Record<string, unknown>) });
  expect(problems).toEqual([{ path: expected.path, message: expect.stringMatching(expected.message) }]);
});

test('the warm pool an operator makes (the template it names, its size) conforms to the project’s SandboxWarmPool schema', () => {
  const pools = readCrd('extensions.agents.x-k8s.io_sandboxwarmpools.yaml');
  expect(pools).toMatchObject({ group: 'extensions.agents.x-k8s.io', kind: 'SandboxWarmPool' });
  const pool = {
    apiVersion: 'extensions.agents.x-k8s.io/v1beta1',
    kind: 'SandboxWarmPool',
    metadata: { name: 'cairn-workers' },
    spec: { replicas: 3, sandboxTemplateRef: { name: 'cairn-worker' } },
  };
  expect(checkSchema(pools.schemas.get('v1beta1')!, pool)).toEqual([]);
  expect(checkSchema(pools.schemas.get('v1beta1')!, { ...pool, spec: { replicas: -1, templateRef: { name: 'x' } } })).toEqual([
    { path: 'spec.sandboxTemplateRef', message: 'is required' },
    { path: 'spec.replicas', message: 'must be at least 0' },
    { path: 'spec.templateRef', message: expect.stringMatching(/unknown field/) },
  ]);
});

test("an agent attempt's claim carries what the pod path puts in the environment, and the waiting worker reads back exactly that", async () => {
  const traceContext = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'cairn=1' };
  const agentClaim = attemptSandboxClaim({
    name: podNameOf(executionId),
    executionId,
    executionDigest: executionDigestOf(executionId),
    ownerDigest: ownerDigestOf({ bucket: 'acme-cairn', prefix: 'cairn/' }),
    manifestDigest: `sha256:${'a'.repeat(64)}`,
    run: { runId: 'run-claims-1', itemId: 'build:linux', attempt: 2 },
    warmPool: 'cairn-workers',
    dispatchedAtMs: Date.parse('2026-11-28T10:00:00.250Z'),
    timeoutMs: 600_000,
    sealedSecrets: sealedSecretsKey(executionId),
    gatewayUrl: 'http://10.0.1.5:7411',
    traceContext,
  });
  expect(checkSchema(schema, agentClaim)).toEqual([]);
  const shared = {
    storage: { bucket: 'acme-cairn', prefix: 'cairn/', forcePathStyle: false },
    cipher: { keyId: 'alias/cairn-secrets' },
    trustedKeys: [{ keyId: `sha256:${'b'.repeat(64)}` as const, algorithm: 'ed25519' as const, publicKey: 'MCowBQYDK2VwAyEA' }],
  };
  // The pod path: every value in the container's environment.
  const podPath = {
    executionId,
    manifestDigest: `sha256:${'a'.repeat(64)}`,
    sealedSecrets: sealedSecretsKey(executionId),
    gatewayUrl: 'http://10.0.1.5:7411',
    traceContext,
    ...shared,
  };
  // The claim path: the template holds what is shared, the pod's annotations file (as the kubelet renders it) the rest.
  const template = Object.fromEntries(
    taskEnvironmentPairs(podPath)
      .filter((pair) => ['CAIRN_STORAGE_BUCKET', 'CAIRN_STORAGE_PREFIX', 'CAIRN_CIPHER_KMS_KEY_ID', 'CAIRN_TRUSTED_KEYS'].includes(pair.name))
      .map((pair) => [pair.name, pair.value]),
  );
  const folder = mkdtempSync(join(tmpdir(), 'cairn-claim-annotations-'));
  try {
    const file = join(folder, 'annotations');
    writeFileSync(file, formatMap({ 'agents.x-k8s.io/pod-template-hash': '7d9f', ...agentClaim.spec.additionalPodMetadata.annotations }));
    const env = await awaitClaimedAttempt({ ...template, CAIRN_ATTEMPT_ANNOTATIONS_FILE: file }, { pollMs: 10 });
    expect(readTaskEnvironment(env)).toEqual(readTaskEnvironment(Object.fromEntries(taskEnvironmentPairs(podPath).map((pair) => [pair.name, pair.value]))));
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});
