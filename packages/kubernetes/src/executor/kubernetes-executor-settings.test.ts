// Settings are checked at construction, each problem named by its option path (no cluster needed).
import { createHash, generateKeyPairSync } from 'node:crypto';
import type { ExecutorV1, StorageProviderV1 } from '@cairn/core';
import { KubeConfig } from '@kubernetes/client-node';
import { expect, test } from 'vitest';
import { createKubernetesExecutor, type KubernetesExecutorSettings } from './kubernetes-executor.ts';

const kubeConfig = new KubeConfig();
kubeConfig.loadFromOptions({
  clusters: [{ name: 'c', server: 'https://127.0.0.1:6443' }],
  users: [{ name: 'u', token: 't' }],
  contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
  currentContext: 'x',
});
const der = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
const key = { keyId: `sha256:${createHash('sha256').update(der).digest('hex')}` as const, algorithm: 'ed25519' as const, publicKey: der.toString('base64') };
const settings = (overrides: Partial<KubernetesExecutorSettings> = {}): KubernetesExecutorSettings => ({
  kubeConfig,
  namespace: 'cairn',
  image: 'registry.example.com/acme/cairn-worker:1',
  network: { egress: [{ cidr: '10.0.0.0/16', ports: [443] }] },
  storage: { specificationVersion: 'v1' } as unknown as StorageProviderV1,
  taskStorage: { bucket: 'acme', prefix: 'cairn/' },
  trustedKeys: [key],
  ...overrides,
});

const refusal = (overrides: Partial<KubernetesExecutorSettings>) => {
  try {
    createKubernetesExecutor(settings(overrides));
  } catch (error) {
    return error as { code: string; path: string; message: string; issues: { path: string; message: string }[] };
  }
  throw new Error('the settings were accepted');
};

test('valid settings build an executor with the container isolation and cancel, and no allow-lists or pushed completions', () => {
  const executor = createKubernetesExecutor(settings());
  expect(executor.provider).toBe('kubernetes');
  expect(executor.capabilities).toEqual({ cancel: true, pushesCompletions: false, isolation: 'container' });
  expect((executor as ExecutorV1).onExit).toBeUndefined();
  executor.close();
});

test.each<[string, Partial<KubernetesExecutorSettings>, string, RegExp]>([
  ['a namespace that is no DNS label', { namespace: 'Cairn_NS' }, 'kubernetes.namespace', /DNS label/],
  ['an egress block that is no CIDR', { network: { egress: [{ cidr: '10.0.0.0/33', ports: [443] }] } }, 'kubernetes.network.egress.0.cidr', /CIDR block/],
  ['no egress at all', { network: { egress: [] } }, 'kubernetes.network.egress', /storage endpoint/],
  ['a cipher without the key the pod opens with', { cipher: { specificationVersion: 'v1' } as never }, 'kubernetes.taskCipher', /set together/],
  ['an option the template does not pass through', { podTemplate: { volumes: [] } as never }, 'kubernetes.podTemplate.volumes', /not an option here/],
  ['a pending timeout of zero', { pendingTimeoutSeconds: 0 }, 'kubernetes.pendingTimeoutSeconds', /./],
  ['host PID namespace', { podTemplate: { hostPID: true } }, 'kubernetes.podTemplate.hostPID', /never shares the node's namespaces/],
])('%s is refused, naming the option', (_what, overrides, path, message) => {
  const error = refusal(overrides);
  expect(error.code).toBe('CAIRN_CONFIG_INVALID');
  expect(error.path).toBe(path);
  expect(error.issues.find((issue) => issue.path === path)?.message).toMatch(message);
  expect(error.message).toMatch(/^\[cairn\] \[kubernetes\] invalid settings: /);
});

test('a kubeconfig text that is not one is refused, naming kubernetes.kubeConfig', () => {
  const error = refusal({ kubeConfig: 'clusters: [' });
  expect(error).toMatchObject({ code: 'CAIRN_CONFIG_INVALID', path: 'kubernetes.kubeConfig' });
});

test("under a host's settingsPath, every refusal names the option where the host's configuration keeps it", () => {
  const error = refusal({ settingsPath: 'config.executor', namespace: 'Cairn_NS', pendingTimeoutSeconds: 0 });
  expect(error).toMatchObject({ code: 'CAIRN_CONFIG_INVALID', path: 'config.executor.namespace' });
  expect(error.issues.map((issue) => issue.path).sort()).toEqual(['config.executor.namespace', 'config.executor.pendingTimeoutSeconds']);
  expect(refusal({ settingsPath: 'config.executor', kubeConfig: 'clusters: [' })).toMatchObject({ path: 'config.executor.kubeConfig' });
});
