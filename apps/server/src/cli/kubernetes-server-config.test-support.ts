import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubernetesTestEndpoint } from '@cairn/kubernetes/testing';
import { radosgwConnection } from '@cairn/s3/testing';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

/**
 * Turns the config `cairn init` wrote in `directory` into a server on the Kubernetes executor, as
 * docs/operations/kubernetes.md sets one up: the test endpoint's kubeconfig beside it, S3 storage
 * (the tests' radosgw) and a KMS cipher, attempt pods running `workerImage` allowed to reach only
 * those two; `executor` adds to (or overrides) the executor's block, `more` adds (or overrides)
 * top-level blocks, `prefix` is the storage prefix (`cairn/` by default). Returns the config's path.
 */
export function writeKubernetesServerConfig(
  directory: string,
  options: {
    readonly endpoint: KubernetesTestEndpoint;
    readonly workerImage: string;
    readonly storageBucket: string;
    readonly kms: { readonly url: string; readonly keyId: string };
    readonly executor?: Readonly<Record<string, unknown>>;
    readonly prefix?: string;
    readonly more?: Readonly<Record<string, unknown>>;
  },
): string {
  const { endpoint: s3Endpoint, region } = radosgwConnection();
  writeFileSync(join(directory, 'kubeconfig.yaml'), options.endpoint.kubeConfig().exportConfig());
  const file = join(directory, 'cairn.config.yaml');
  const config = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const portOf = (url: string) => Number(new URL(url).port);
  writeFileSync(
    file,
    stringifyYaml({
      ...config,
      storage: { kind: 's3', bucket: options.storageBucket, prefix: options.prefix ?? 'cairn/', region, endpoint: s3Endpoint, forcePathStyle: true },
      cipher: { kind: 'kms', keyId: options.kms.keyId, endpoint: options.kms.url, region: 'us-east-1' },
      executor: {
        kind: 'kubernetes',
        namespace: options.endpoint.namespace,
        image: options.workerImage,
        kubeconfigFile: 'kubeconfig.yaml',
        network: { egress: [{ cidr: '127.0.0.1/32', ports: [portOf(s3Endpoint), portOf(options.kms.url)] }] },
        ...options.executor,
      },
      ...options.more,
    }),
  );
  return file;
}
