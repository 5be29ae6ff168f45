import { readFileSync } from 'node:fs';
import { CairnError, isCairnError, parseSettings } from '@cairn/protocol';
import type { AuditAnchorV1, CipherV1, ExecutorV1, ForgeV1, Logger, PublicKeyRecord, SignerV1, StorageProviderV1 } from '@cairn/core';
import type { ForgeConfig } from '../capabilities/delivery/forges-config-schema.ts';
import type { LoadedServerConfig } from '../config/load-server-config.ts';
import type { AnchorConfig, ServerConfig, StorageConfig } from '../config/server-config-schema.ts';
import { readTsaCertificate } from '../capabilities/evidence/tsa-certificate-file.ts';
import { egressSettingsOf } from './egress-settings.ts';
import type { agentRuntimeSettings } from './agent-runtime-settings.ts';

/** What a factory may need besides its own config: the loaded config (paths) and the seam's place in it. */
export interface SeamContext {
  readonly loaded: LoadedServerConfig;
  /** The option path of the seam's config (`config.anchors[1]`), for messages. */
  readonly where: string;
  readonly logger?: Logger;
}

/** An anchor is built for its index in `config.anchors` (a local one's directory is `loaded.paths.anchors[index]`). */
export interface AnchorContext extends SeamContext {
  readonly index: number;
}

/** The executor also needs the storage it reads manifests from, the cipher of secrets, the key it trusts and the runtimes. */
export interface ExecutorContext extends SeamContext {
  readonly storage: StorageProviderV1;
  readonly cipher: CipherV1;
  readonly signingKey: PublicKeyRecord;
  readonly runtimes: ReturnType<typeof agentRuntimeSettings>;
  /** Told of each agent-sandbox claim a Kubernetes executor had bound (the server's metrics). */
  readonly observeSandboxClaim?: (claim: { readonly warmPool: string; readonly launch: 'warm' | 'cold'; readonly seconds: number }) => void;
}

/**
 * A forge is built for its name in `forges:` (`where`: `config.forges.NAME`, which its settings'
 * errors name) with its secrets read through `secret`, when a delivery first uses it.
 */
export interface ForgeContext {
  readonly where: string;
  /** A server secret's value; `option` names the option that named the secret, for the error when it is not set. */
  readonly secret: (name: string, option: string) => Promise<string>;
}

/** One factory per `kind` of a seam's config: the map is exhaustive over the kinds the schema allows. */
type FactoriesOf<Config extends { kind: string }, Seam, Context = SeamContext> = {
  readonly [Kind in Config['kind']]: (config: Extract<Config, { kind: Kind }>, context: Context) => Promise<Seam>;
};

/**
 * How the server builds each seam from its config, by `kind`. Every factory imports its package
 * when it runs, never before: a local server never loads `@cairn/s3`, `@cairn/kms`, `@cairn/timestamp`, `@cairn/fargate`, `@cairn/kubernetes`
 * (nor the AWS SDK under them), `@cairn/git-forge` or `@cairn/github-forge`,
 * and a new kind is one entry here and one branch of the config schema.
 */
export const seamFactories: {
  readonly storage: FactoriesOf<StorageConfig, StorageProviderV1>;
  readonly anchor: FactoriesOf<AnchorConfig, AuditAnchorV1, AnchorContext>;
  readonly signer: FactoriesOf<ServerConfig['signer'], SignerV1>;
  readonly cipher: FactoriesOf<ServerConfig['cipher'], CipherV1>;
  readonly executor: FactoriesOf<ServerConfig['executor'], ExecutorV1, ExecutorContext>;
  readonly forge: FactoriesOf<ForgeConfig, ForgeV1, ForgeContext>;
} = {
  storage: {
    local: async (_config, { loaded }) => (await import('@cairn/local')).createLocalStorageProvider({ root: loaded.paths.storage! }),
    s3: async (config) => {
      const { createS3StorageProvider } = await import('@cairn/s3');
      const { kind: _kind, ...settings } = config;
      return createS3StorageProvider(settings);
    },
  },
  anchor: {
    local: async (_config, { loaded, index }) => (await import('@cairn/local')).createLocalAuditAnchor({ directory: loaded.paths.anchors[index]! }),
    's3-object-lock': async (config) => {
      const { createS3ObjectLockAnchor } = await import('@cairn/s3');
      const { kind: _kind, ...settings } = config;
      return createS3ObjectLockAnchor(settings);
    },
    rfc3161: async (config, { loaded, index, where }) => {
      const { createRfc3161Anchor } = await import('@cairn/timestamp');
      const { kind: _kind, trustedCertificate: _file, ...settings } = config;
      return createRfc3161Anchor({ ...settings, trustedCertificate: readTsaCertificate(loaded.paths.tsaCertificates[index]!, `${where}.trustedCertificate`) });
    },
  },
  signer: {
    local: async (_config, { loaded }) => (await import('@cairn/local')).createLocalSigner({ keyFile: loaded.paths.signingKey }),
    kms: async (config) => {
      const { createKmsSigner } = await import('@cairn/kms');
      const { kind: _kind, ...settings } = config;
      return createKmsSigner(settings);
    },
  },
  cipher: {
    local: async (_config, { loaded }) => (await import('@cairn/local')).createLocalCipher({ keyFile: loaded.paths.cipherKey }),
    kms: async (config) => {
      const { createKmsCipher } = await import('@cairn/kms');
      const { kind: _kind, ...settings } = config;
      return createKmsCipher(settings);
    },
  },
  executor: {
    local: async (config, { loaded, storage, signingKey, runtimes, logger, where }) =>
      (await import('@cairn/local')).createLocalExecutor({
        storage,
        ...taskStorageOf(loaded.config.storage),
        trustedKeys: [signingKey],
        stateDirectory: loaded.paths.executions,
        workRoot: loaded.paths.work,
        sandbox: config.sandbox,
        ...(config.limits ? { limits: definedOnly(config.limits) } : {}),
        ...(config.snapshotCache ? { snapshotCache: definedOnly(config.snapshotCache) } : {}),
        egress: egressSettingsOf(config.network, loaded.paths.networkTrust, `${where}.network`),
        ...runtimes.executor,
        ...(logger ? { logger } : {}),
      }),
    // Tasks run in AWS: they find the server's storage by its S3 location and open their secrets
    // with the server's KMS key (the schema refuses a fargate executor over anything else).
    fargate: async (config, { loaded, storage, cipher, signingKey, logger, where }) => {
      const { createFargateExecutor } = await import('@cairn/fargate');
      const { storage: storageConfig, cipher: cipherConfig } = loaded.config;
      if (storageConfig.kind !== 's3' || cipherConfig.kind !== 'kms')
        throw new CairnError(
          'CAIRN_CONFIG_INVALID',
          `${where}: a fargate executor needs storage of kind s3 and a cipher of kind kms (set config.storage and config.cipher).`,
          {
            path: where,
          },
        );
      // The network policy is the engine's to apply at submit, not a setting of the executor.
      const { kind: _kind, network: _network, ...settings } = config;
      return createFargateExecutor({
        ...definedOnly(settings),
        storage,
        ...workerSeams(storageConfig, cipherConfig),
        cipher,
        trustedKeys: [signingKey],
        ...(logger ? { logger } : {}),
      });
    },
    // Pods run the Fargate worker (ADR 0051): they too find the server's storage by its S3 location
    // and open their secrets with its KMS key (the schema refuses a kubernetes executor over
    // anything else). No credential is handed to pods: they reach S3 and KMS as their own identity
    // (a service account through podTemplate.serviceAccountName, IRSA or Pod Identity).
    kubernetes: async (config, { loaded, storage, cipher, signingKey, logger, where, observeSandboxClaim }) => {
      const { createKubernetesExecutor, podTemplateSchema, attemptNetworkSchema } = await import('@cairn/kubernetes');
      const { storage: storageConfig, cipher: cipherConfig } = loaded.config;
      if (storageConfig.kind !== 's3' || cipherConfig.kind !== 'kms')
        throw new CairnError(
          'CAIRN_CONFIG_INVALID',
          `${where}: a kubernetes executor needs storage of kind s3 and a cipher of kind kms (set config.storage and config.cipher).`,
          {
            path: where,
          },
        );
      // The pass-through parts are checked by the package's own schemas, their errors naming the config's options.
      const podTemplate = parseSettings(podTemplateSchema, config.podTemplate, `${where}.podTemplate`);
      const network = parseSettings(attemptNetworkSchema, config.network, `${where}.network`);
      const settings = {
        // The package's errors and named ends then speak of this config's options (config.executor.image).
        settingsPath: where,
        ...(loaded.paths.kubeconfig === undefined ? {} : { kubeConfig: readKubeconfig(loaded.paths.kubeconfig, `${where}.kubeconfigFile`) }),
        namespace: config.namespace,
        image: config.image,
        containerName: config.containerName,
        podTemplate,
        network,
        pendingTimeoutSeconds: config.pendingTimeoutSeconds,
        ...(config.sandboxPool ? { sandboxPool: config.sandboxPool } : {}),
        ...(observeSandboxClaim ? { onClaimBound: observeSandboxClaim } : {}),
        storage,
        ...workerSeams(storageConfig, cipherConfig),
        cipher,
        trustedKeys: [signingKey],
        ...(logger ? { logger } : {}),
      };
      try {
        return createKubernetesExecutor(settings);
      } catch (error) {
        // The package's option is the loaded KubeConfig (config.executor.kubeConfig): the config's is the file it was read from, or none.
        if (!isCairnError(error, 'CAIRN_CONFIG_INVALID') || error.path !== `${where}.kubeConfig`) throw error;
        throw new CairnError(
          'CAIRN_CONFIG_INVALID',
          `${where}.kubeconfigFile: ${loaded.paths.kubeconfig ?? "unset, and the client's default (KUBECONFIG, ~/.kube/config, the in-cluster service account)"} does not load (${error.message}) Write the path of a kubeconfig naming the cluster and the server's credentials (kubectl config view --raw --minify > kubeconfig.yaml).`,
          { path: `${where}.kubeconfigFile`, cause: error },
        );
      }
    },
  },
  // The settings are the package's own, checked by its schema under the forge's option path; the
  // token is never in the config, only the name of the secret holding it.
  forge: {
    git: async (config, { where, secret }) => {
      const { createGitForge, gitForgeSettingsSchema } = await import('@cairn/git-forge');
      const { kind: _kind, tokenSecret, token: _token, ...settings } = config;
      const token = tokenSecret === undefined ? {} : { token: await secret(tokenSecret, `${where}.tokenSecret`) };
      return createGitForge(parseSettings(gitForgeSettingsSchema, { ...settings, ...token }, where));
    },
    github: async (config, { where, secret }) => {
      const { createGitHubForge, gitHubForgeSettingsSchema } = await import('@cairn/github-forge');
      const { kind: _kind, tokenSecret, token: _token, app, ...settings } = config;
      const auth = {
        ...(tokenSecret === undefined ? {} : { token: await secret(tokenSecret, `${where}.tokenSecret`) }),
        ...(app === undefined
          ? {}
          : {
              app: {
                appId: app.appId,
                installationId: app.installationId,
                privateKey: await secret(app.privateKeySecret, `${where}.app.privateKeySecret`),
              },
            }),
      };
      return createGitHubForge(parseSettings(gitHubForgeSettingsSchema, { ...settings, ...auth }, where));
    },
  },
};

/**
 * How a local executor's supervisor processes open the server's storage when it is not a local
 * directory (which they reopen by its root): S3 by `@cairn/s3`'s factory and the config's plain
 * settings, credentials coming from the environment they inherit, as the server's do.
 */
function taskStorageOf(storage: StorageConfig): { taskStorage?: { kind: 'module'; module: string; export: string; settings: unknown } } {
  if (storage.kind !== 's3') return {};
  const { kind: _kind, ...settings } = storage;
  return { taskStorage: { kind: 'module', module: import.meta.resolve('@cairn/s3'), export: 'createS3StorageProvider', settings: definedOnly(settings) } };
}

/** A kubeconfig file's text (the executor parses it): one that cannot be read is refused naming the option. */
export function readKubeconfig(file: string, option: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `${option}: cannot read the kubeconfig ${file} (${(error as Error).message}); write the path of a kubeconfig naming the cluster and the server's credentials (kubectl config view --raw --minify > kubeconfig.yaml), or remove the option to use KUBECONFIG, ~/.kube/config or the in-cluster service account.`,
      { path: option, cause: error },
    );
  }
}

/** The object without its undefined values (the packages' settings are exact about optional ones). */
function definedOnly<Value extends object>(value: Value): Value {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Value;
}

/** Builds a seam through the factory its config's `kind` names. */
export function buildSeam<Config extends { kind: string }, Seam, Context, Kind extends Config['kind']>(
  factories: FactoriesOf<Config, Seam, Context>,
  config: Extract<Config, { kind: Kind }> & { readonly kind: Kind },
  context: Context,
): Promise<Seam> {
  // Indexed by the config's own kind, the map gives the factory that takes exactly that config.
  const factory = factories[config.kind];
  return factory(config, context);
}

/**
 * Where a worker outside this host (a Fargate task, a Kubernetes pod) finds the server's storage and
 * opens its sealed secrets: the S3 location and KMS key of the server's own seams.
 */
function workerSeams(storage: Extract<ServerConfig['storage'], { kind: 's3' }>, cipher: Extract<ServerConfig['cipher'], { kind: 'kms' }>) {
  return {
    taskStorage: definedOnly({
      bucket: storage.bucket,
      prefix: storage.prefix,
      region: storage.region,
      endpoint: storage.endpoint,
      forcePathStyle: storage.forcePathStyle,
      encryption: storage.encryption,
    }),
    taskCipher: definedOnly({ keyId: cipher.keyId, region: cipher.region, endpoint: cipher.endpoint }),
  };
}
