// deploy/kubernetes as docs/operations/kubernetes.md applies it. No Kubernetes API server can run
// here: the page's shell blocks run as written with a `kubectl` in front of the real one that
// catches `apply` (keeping what it would have sent) and passes everything else through, so
// `kubectl kustomize` and `kubectl create secret --dry-run=client` are the real ones. Every object
// caught is checked against the Kubernetes API's schema of its kind (kubernetes-models), and the
// rendered server against what the server itself accepts.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { loadServerConfig } from '@cairn/server';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { repositoryRoot } from './support/workspace.ts';

// The server's own YAML parser (a dependency of @cairn/server), so the ConfigMap's text is read as the server reads it.
const { parseAllDocuments } = createRequire(join(repositoryRoot, 'apps', 'server', 'package.json'))('yaml') as {
  parseAllDocuments(text: string): { errors: { message: string }[]; toJS(): unknown }[];
};

interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}
// Objects as kubectl renders them, read field by field.
type Json = Record<string, any>;

const page = 'docs/operations/kubernetes.md';
const overlaysFolder = join(repositoryRoot, 'deploy', 'kubernetes', 'overlays');
const overlays = readdirSync(overlaysFolder, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name);
const expectedRules = [
  { apiGroup: '', resource: 'pods', verbs: ['create', 'delete', 'get', 'list', 'watch'] },
  { apiGroup: '', resource: 'secrets', verbs: ['create', 'delete', 'get', 'list'] },
  { apiGroup: 'networking.k8s.io', resource: 'networkpolicies', verbs: ['create', 'delete', 'get', 'list'] },
];

function parseObjects(text: string): KubernetesObject[] {
  return parseAllDocuments(text)
    .map((document) => {
      if (document.errors.length > 0) throw new Error(`not YAML: ${document.errors[0]!.message}`);
      return document.toJS() as KubernetesObject | null;
    })
    .filter((object): object is KubernetesObject => object !== null);
}

function shellBlocks(): string[] {
  return [...readFileSync(join(repositoryRoot, page), 'utf8').matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((match) => match[1]!);
}

/** The schema check of one object's kind: kubernetes-models' class for its apiVersion and kind (an unknown kind throws). */
async function validateAgainstSchema(object: KubernetesObject): Promise<void> {
  const models = (await import(/* @vite-ignore */ `kubernetes-models/${object.apiVersion}`)) as Record<string, new (value: unknown) => { validate(): void }>;
  const Model = models[object.kind];
  if (Model === undefined) throw new Error(`kubernetes-models has no ${object.kind} in ${object.apiVersion}`);
  new Model(object).validate();
}

function podSpecsOf(objects: readonly KubernetesObject[]): { owner: string; spec: Json; labels: Record<string, string> }[] {
  return objects
    .filter((object) => ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(object.kind))
    .map((object) => {
      const template = (object as Json)['spec'].template;
      return { owner: `${object.kind}/${object.metadata.name}`, spec: template.spec, labels: template.metadata?.labels ?? {} };
    });
}

/** The environment Kubernetes gives a container: its own `env` (a Secret's value as a stand-in), and each Service's variables unless enableServiceLinks is false. */
function containerEnvironment(container: Json, podSpec: Json, services: readonly KubernetesObject[]): Record<string, string> {
  const environment: Record<string, string> = {};
  if (podSpec['enableServiceLinks'] !== false)
    for (const service of services) {
      const prefix = service.metadata.name.toUpperCase().replace(/-/g, '_');
      const port = (service as Json)['spec'].ports[0];
      environment[`${prefix}_SERVICE_HOST`] = '10.0.0.10';
      environment[`${prefix}_SERVICE_PORT`] = String(port.port);
      environment[`${prefix}_PORT`] = `tcp://10.0.0.10:${port.port}`;
    }
  for (const variable of container['env'] ?? []) environment[variable.name] = variable.value ?? `<from ${JSON.stringify(variable.valueFrom)}>`;
  return environment;
}

let scratch: string;
let kubectl: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'cairn-kubernetes-'));
  // `cairn init` run as root refuses a folder its sandboxes' uids could not pass through.
  chmodSync(scratch, 0o711);
  kubectl = execFileSync('bash', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).trim();
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

test('kubectl is there to render with (Debian kubernetes-client: scripts/setup.sh --for-tests)', () => {
  expect(execFileSync(kubectl, ['version', '--client'], { encoding: 'utf8' })).toMatch(/v1\.\d+/);
  expect(readFileSync(join(repositoryRoot, 'scripts', 'setup.sh'), 'utf8')).toMatch(/^TEST_PACKAGES=\(.*\bkubernetes-client\b/m);
});

test('the page has the render command of the example overlay, and every overlay is one the page could render', () => {
  expect(overlays).toContain('example');
  expect(shellBlocks().join('\n')).toContain('kubectl kustomize deploy/kubernetes/overlays/example | kubectl apply -f -');
});

describe.each(overlays)('overlays/%s', (overlay) => {
  let applied: KubernetesObject[];
  let rendered: KubernetesObject[];

  beforeAll(() => {
    const folder = join(scratch, overlay);
    const bin = join(folder, 'bin');
    const capture = join(folder, 'applied.yaml');
    mkdirSync(bin, { recursive: true });
    // The page's `kubectl apply` lines, caught: what they would send is kept, and nothing else changes.
    writeFileSync(
      join(bin, 'kubectl'),
      `#!/usr/bin/env bash
for argument in "$@"; do
  if [ "$argument" = apply ]; then
    file=-; previous=
    for argument in "$@"; do [ "$previous" = -f ] && file=$argument; previous=$argument; done
    { cat "$file"; printf '\\n---\\n'; } >> ${JSON.stringify(capture)}
    exit 0
  fi
done
exec ${JSON.stringify(kubectl)} "$@"
`,
    );
    chmodSync(join(bin, 'kubectl'), 0o755);
    writeFileSync(capture, '');
    const work = join(folder, 'work');
    mkdirSync(work);
    const environment = {
      HOME: work,
      LANG: 'C.UTF-8',
      PATH: [bin, join(repositoryRoot, '.tools', 'bin'), dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':'),
      PGPASSWORD: 'a postgres password',
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'an S3 secret key',
    };
    // The page's blocks, each as written except the overlay it renders, from the repository's root
    // (the files they write go to a copy of nothing: `cairn init` writes into a folder of this test).
    for (const block of shellBlocks()) {
      const script = block.replaceAll('deploy/kubernetes/overlays/example', `deploy/kubernetes/overlays/${overlay}`);
      const result = spawnSync(
        'bash',
        ['-euo', 'pipefail', '-c', `cd ${JSON.stringify(work)} && ln -sfn ${JSON.stringify(join(repositoryRoot, 'deploy'))} deploy && ${script}`],
        {
          env: environment,
          encoding: 'utf8',
        },
      );
      expect(result.status, `${script}\n${result.stdout}\n${result.stderr}`).toBe(0);
    }
    applied = parseObjects(readFileSync(capture, 'utf8'));
    rendered = parseObjects(execFileSync(kubectl, ['kustomize', `deploy/kubernetes/overlays/${overlay}`], { cwd: repositoryRoot, encoding: 'utf8' }));
  });

  test('what the page applies is the rendered overlay, its namespace and the Secrets', () => {
    const names = (objects: readonly KubernetesObject[]) => objects.map((object) => `${object.kind}/${object.metadata.name}`).sort();
    expect(names(applied)).toEqual(expect.arrayContaining(names(rendered)));
    expect(applied.filter((object) => object.kind === 'Secret').length).toBe(3);
  });

  test('every object is valid against the Kubernetes schema of its kind, and a wrong type is refused', async () => {
    expect(applied.length).toBeGreaterThan(8);
    for (const object of applied) {
      await expect(validateAgainstSchema(object), `${object.kind}/${object.metadata.name}`).resolves.toBeUndefined();
      const broken = { ...object, metadata: { ...object.metadata, name: 42 } } as unknown as KubernetesObject;
      await expect(validateAgainstSchema(broken), `${object.kind}/${object.metadata.name} with a numeric name`).rejects.toThrow(/metadata\/name/);
    }
  });

  test('everything namespaced is in one namespace, the one the overlay makes', () => {
    const namespaces = rendered.filter((object) => object.kind === 'Namespace');
    expect(namespaces.map((object) => object.metadata.name)).toHaveLength(1);
    const namespace = namespaces[0]!.metadata.name;
    expect(namespaces[0]!.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    for (const object of applied.filter((object) => object.kind !== 'Namespace'))
      expect(object.metadata.namespace, `${object.kind}/${object.metadata.name}`).toBe(namespace);
  });

  test('RBAC: one Role with exactly pods, secrets and networkpolicies, bound to the pods’ ServiceAccount; nothing cluster-wide', () => {
    expect(rendered.filter((object) => object.kind === 'ClusterRole' || object.kind === 'ClusterRoleBinding')).toEqual([]);
    const roles = rendered.filter((object) => object.kind === 'Role');
    expect(roles).toHaveLength(1);
    const role = roles[0] as Json;
    const rules = (role['rules'] as Json[]).flatMap((rule) =>
      (rule['apiGroups'] as string[]).flatMap((apiGroup) =>
        (rule['resources'] as string[]).map((resource) => ({
          apiGroup,
          resource,
          verbs: [...(rule['verbs'] as string[])].sort(),
          names: rule['resourceNames'],
        })),
      ),
    );
    expect(rules.sort((a, b) => a.resource.localeCompare(b.resource))).toEqual(
      expectedRules.map((rule) => ({ ...rule, names: undefined })).sort((a, b) => a.resource.localeCompare(b.resource)),
    );
    const bindings = rendered.filter((object) => object.kind === 'RoleBinding') as Json[];
    expect(bindings).toHaveLength(1);
    expect(bindings[0]!['roleRef']).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role['metadata'].name });
    const [pod] = podSpecsOf(rendered);
    // A ServiceAccount subject needs its namespace (the API refuses one without): the Role's own.
    expect(bindings[0]!['subjects']).toEqual([{ kind: 'ServiceAccount', name: pod!.spec['serviceAccountName'], namespace: role['metadata'].namespace }]);
    expect(rendered.some((object) => object.kind === 'ServiceAccount' && object.metadata.name === pod!.spec['serviceAccountName'])).toBe(true);
  });

  test('no container is privileged, runs as root, keeps a capability or writes its root file system', () => {
    const pods = podSpecsOf(rendered);
    expect(pods.length).toBeGreaterThan(0);
    for (const { owner, spec } of pods) {
      for (const field of ['hostNetwork', 'hostPID', 'hostIPC']) expect(spec[field], `${owner} ${field}`).not.toBe(true);
      for (const volume of spec['volumes'] ?? []) expect(volume.hostPath, `${owner} volume ${volume.name}`).toBeUndefined();
      expect(spec['securityContext']?.seccompProfile?.type, owner).toBe('RuntimeDefault');
      for (const container of [...(spec['initContainers'] ?? []), ...spec['containers']]) {
        const where = `${owner} container ${container.name}`;
        const context = container.securityContext ?? {};
        expect(context.privileged, where).not.toBe(true);
        expect(context.allowPrivilegeEscalation, where).toBe(false);
        expect(context.readOnlyRootFilesystem, where).toBe(true);
        expect(context.runAsNonRoot ?? spec['securityContext']?.runAsNonRoot, where).toBe(true);
        const user = context.runAsUser ?? spec['securityContext']?.runAsUser;
        expect(user === undefined || user > 0, `${where} runAsUser ${user}`).toBe(true);
        expect(context.capabilities?.drop, where).toContain('ALL');
        expect(context.capabilities?.add ?? [], where).toEqual([]);
        for (const resource of ['cpu', 'memory']) {
          expect(container.resources?.requests?.[resource], `${where} requests.${resource}`).toBeDefined();
          expect(container.resources?.limits?.[resource], `${where} limits.${resource}`).toBeDefined();
        }
      }
    }
  });

  test('probes on /readyz and /healthz, routes the server serves; a disruption budget when there are replicas to spare', () => {
    const httpReference = readFileSync(join(repositoryRoot, 'docs', 'reference', 'http.md'), 'utf8');
    for (const route of ['/readyz', '/healthz']) expect(httpReference).toContain(`### \`GET ${route}\``);
    const deployment = rendered.find((object) => object.kind === 'Deployment') as Json;
    const server = deployment['spec'].template.spec.containers.find((container: Json) => container['name'] === 'server');
    const ports = server.ports.map((port: Json) => port['name']);
    expect(server.readinessProbe.httpGet.path).toBe('/readyz');
    expect(server.livenessProbe.httpGet.path).toBe('/healthz');
    expect(ports).toContain(server.readinessProbe.httpGet.port);
    expect(ports).toContain(server.livenessProbe.httpGet.port);
    const budgets = rendered.filter((object) => object.kind === 'PodDisruptionBudget') as Json[];
    const labels = deployment['spec'].template.metadata.labels as Record<string, string>;
    const selecting = budgets.filter((budget) => Object.entries(budget['spec'].selector.matchLabels).every(([key, value]) => labels[key] === value));
    const replicas = deployment['spec'].replicas ?? 1;
    if (replicas > 1) {
      expect(selecting).toHaveLength(1);
      expect(selecting[0]!['spec'].minAvailable).toBeLessThan(replicas);
    } else {
      expect(selecting.filter((budget) => (budget['spec'].minAvailable ?? 0) >= replicas)).toEqual([]);
    }
  });

  test('the ConfigMap’s config is one the server loads, with the container’s environment, and the keys are where it reads them', () => {
    const deployment = rendered.find((object) => object.kind === 'Deployment') as Json;
    const podSpec = deployment['spec'].template.spec;
    const server = podSpec.containers.find((container: Json) => container['name'] === 'server');
    const configPath = server.args[server.args.indexOf('--config') + 1] as string;
    const mount = server.volumeMounts.find((candidate: Json) => configPath.startsWith(`${candidate['mountPath']}/`));
    const volume = podSpec.volumes.find((candidate: Json) => candidate['name'] === mount.name);
    const configMap = rendered.find((object) => object.kind === 'ConfigMap' && object.metadata.name === volume.configMap.name) as Json;
    const text = configMap['data'][configPath.slice(mount.mountPath.length + 1)] as string;
    expect(text).toBeDefined();
    expect(text).not.toMatch(/password\s*:/i);
    const file = join(scratch, `${overlay}-cairn.config.yaml`);
    writeFileSync(file, text);
    const services = rendered.filter((object) => object.kind === 'Service');
    const loaded = loadServerConfig({ file, env: containerEnvironment(server, podSpec, services) });
    expect(loaded.config.engine.state.kind).toBe('postgres');
    expect(loaded.config.storage.kind).toBe('s3');
    expect(loaded.config.server.port).toBe(server.ports.find((port: Json) => port['name'] === 'http').containerPort);
    // A read-only root file system: the data directory must be on a volume the server may write.
    const writable = server.volumeMounts.filter((candidate: Json) => !candidate['readOnly']).map((candidate: Json) => candidate['mountPath'] as string);
    expect(writable.some((path: string) => loaded.paths.dataDirectory.startsWith(`${path}/`))).toBe(true);
    expect(writable).toContain('/tmp');
    const keys = podSpec.initContainers.find((container: Json) => container['name'] === 'keys');
    const script = keys.command.join(' ') as string;
    // The cipher is a KMS key (the Kubernetes executor's pods open their secrets with it): no key file.
    expect(loaded.config.cipher.kind).toBe('kms');
    expect(script).not.toContain('cipher');
    for (const path of [loaded.paths.signingKey, loaded.paths.tokens])
      expect(script).toMatch(new RegExp(`install -m 0600 \\S+ ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\s|$)`));
  });

  test('the executor is on: attempt pods in the Role’s namespace as a ServiceAccount bound to nothing, fit for its Pod Security level; the server’s token mounted', () => {
    const deployment = rendered.find((object) => object.kind === 'Deployment') as Json;
    const podSpec = deployment['spec'].template.spec;
    const server = podSpec.containers.find((container: Json) => container['name'] === 'server');
    const configPath = server.args[server.args.indexOf('--config') + 1] as string;
    const configMap = rendered.find((object) => object.kind === 'ConfigMap') as Json;
    const file = join(scratch, `${overlay}-executor.config.yaml`);
    writeFileSync(file, configMap['data'][configPath.split('/').at(-1)!] as string);
    const { executor } = loadServerConfig({ file, env: containerEnvironment(server, podSpec, []) }).config;
    if (executor.kind !== 'kubernetes') throw new Error(`the config's executor is ${executor.kind}, not kubernetes`);
    // The client's in-cluster configuration reads the mounted token: no kubeconfig file.
    expect(podSpec.automountServiceAccountToken).toBe(true);
    expect(executor.kubeconfigFile).toBeUndefined();
    const role = rendered.find((object) => object.kind === 'Role')!;
    expect(executor.namespace).toBe(role.metadata.namespace);
    // The attempts' account exists, mounts no token, and no binding names it.
    const account = rendered.find((object) => object.kind === 'ServiceAccount' && object.metadata.name === executor.podTemplate?.serviceAccountName) as Json;
    expect(account, String(executor.podTemplate?.serviceAccountName)).toBeDefined();
    expect(account['automountServiceAccountToken']).toBe(false);
    expect(
      rendered.filter((object) => /Binding$/.test(object.kind)).flatMap((binding) => (binding as Json)['subjects'].map((subject: Json) => subject['name'])),
    ).not.toContain(account['metadata'].name);
    // What the restricted level asks of a pod that the executor does not set itself (it drops every
    // capability and refuses escalation on its own): a non-root user and the RuntimeDefault profile.
    const namespace = rendered.find((object) => object.kind === 'Namespace')!;
    expect(namespace.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    expect(executor.podTemplate?.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect((executor.podTemplate?.resources as { limits?: unknown } | undefined)?.limits).toMatchObject({ cpu: expect.anything(), memory: expect.anything() });
    expect(executor.network.egress.length).toBeGreaterThan(0);
  });

  test('every Secret the Deployment reads, with every key, is one the page makes', () => {
    const secrets = new Map(
      applied.filter((object) => object.kind === 'Secret').map((secret) => [secret.metadata.name, Object.keys((secret as Json)['data'] ?? {})]),
    );
    const deployment = rendered.find((object) => object.kind === 'Deployment') as Json;
    const podSpec = deployment['spec'].template.spec;
    const wanted: { name: string; key: string }[] = [];
    for (const container of [...(podSpec.initContainers ?? []), ...podSpec.containers])
      for (const variable of container.env ?? []) if (variable.valueFrom?.secretKeyRef) wanted.push(variable.valueFrom.secretKeyRef);
    const keys = podSpec.initContainers.find((container: Json) => container['name'] === 'keys');
    for (const volume of podSpec.volumes.filter((candidate: Json) => candidate['secret'])) {
      const mountPath = keys.volumeMounts.find((mount: Json) => mount['name'] === volume.name).mountPath as string;
      for (const [, key] of keys.command.join(' ').matchAll(new RegExp(`${mountPath}/([\\w.-]+)`, 'g')))
        wanted.push({ name: volume.secret.secretName, key: key! });
    }
    // signing.pem and tokens.json, the password, the two S3 keys.
    expect(wanted.length).toBeGreaterThanOrEqual(5);
    for (const { name, key } of wanted) expect(secrets.get(name), `Secret ${name} key ${key}`).toContain(key);
  });
});

test('components/agent-sandbox, added to an overlay as the page says, grants claims and nothing else, bound to the server’s ServiceAccount', async () => {
  const component = join(repositoryRoot, 'deploy', 'kubernetes', 'components', 'agent-sandbox');
  expect(readFileSync(join(repositoryRoot, page), 'utf8')).toContain('- ../../components/agent-sandbox');
  const folder = join(scratch, 'with-agent-sandbox');
  mkdirSync(folder);
  // An overlay of the example's as a team writes one: its namespace, the component beside it.
  writeFileSync(
    join(folder, 'kustomization.yaml'),
    `namespace: cairn\nresources:\n  - ${relative(folder, join(overlaysFolder, 'example'))}\ncomponents:\n  - ${relative(folder, component)}\n`,
  );
  const rendered = parseObjects(execFileSync(kubectl, ['kustomize', folder], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  for (const object of rendered) await validateAgainstSchema(object);
  const claims = rendered.find((object) => object.kind === 'Role' && object.metadata.name === 'cairn-executor-sandbox-claims') as Json | undefined;
  expect(claims?.['metadata'].namespace).toBe('cairn');
  expect(claims?.['rules']).toEqual([
    { apiGroups: ['extensions.agents.x-k8s.io'], resources: ['sandboxclaims'], verbs: ['create', 'get', 'list', 'delete'] },
    { apiGroups: ['extensions.agents.x-k8s.io'], resources: ['sandboxwarmpools'], verbs: ['get'] },
    { apiGroups: ['agents.x-k8s.io'], resources: ['sandboxes'], verbs: ['get'] },
  ]);
  const binding = rendered.find((object) => object.kind === 'RoleBinding' && object.metadata.name === 'cairn-executor-sandbox-claims') as Json | undefined;
  expect(binding?.['roleRef']).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'cairn-executor-sandbox-claims' });
  expect(binding?.['subjects']).toEqual([{ kind: 'ServiceAccount', name: 'cairn-server', namespace: 'cairn' }]);
  // The base's Role is unchanged, and still nothing cluster-wide.
  expect(rendered.filter((object) => object.kind === 'Role').map((object) => object.metadata.name)).toEqual([
    'cairn-executor',
    'cairn-executor-sandbox-claims',
  ]);
  expect(rendered.filter((object) => object.kind === 'ClusterRole' || object.kind === 'ClusterRoleBinding')).toEqual([]);
});
