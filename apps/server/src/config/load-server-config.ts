import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { CairnError, parseSettings } from '@cairn/protocol';
import { parse as parseYaml } from 'yaml';
import { configFileNames } from './config-file-names.ts';
import { serverConfigSchema, type ServerConfig } from './server-config-schema.ts';

/** Environment variables that override a config file's values (for containers and CI). */
const environmentOverrides: Readonly<Record<string, (config: Record<string, unknown>, value: string) => void>> = {
  CAIRN_DATA_DIRECTORY: (config, value) => (config['dataDirectory'] = value),
  CAIRN_HOST: (config, value) => (config['server'] = { ...(config['server'] as object | undefined), host: value }),
  CAIRN_PORT: (config, value) => (config['server'] = { ...(config['server'] as object | undefined), port: Number(value) }),
  // The sandbox of a local executor; a fargate executor's tasks run in their containers, which it does not touch.
  CAIRN_SANDBOX: (config, value) => {
    const executor = config['executor'] as { kind?: unknown } | undefined;
    if (executor?.kind === undefined || executor.kind === 'local') config['executor'] = { ...executor, sandbox: value };
  },
  CAIRN_LOG_LEVEL: (config, value) => (config['server'] = { ...(config['server'] as object | undefined), logLevel: value }),
  // OpenTelemetry's own variable, read where its SDK would read it; it means something only with traces on.
  OTEL_SEMCONV_STABILITY_OPT_IN: (config, value) => {
    const telemetry = config['telemetry'] as { traces?: object } | undefined;
    if (telemetry?.traces) config['telemetry'] = { ...telemetry, traces: { ...telemetry.traces, stabilityOptIn: value } };
  },
};

/** A loaded config: its values, with every path made absolute, and the file it came from. */
export interface LoadedServerConfig {
  readonly file: string;
  readonly config: ServerConfig;
  /** Absolute paths of everything the seams keep, defaults filled in. */
  readonly paths: {
    readonly dataDirectory: string;
    /** The SQLite database of the engine's state (`config.engine.state.kind: sqlite`); where it would be otherwise. */
    readonly database: string;
    /** The storage directory; absent when storage is not `local` (an S3 bucket has no path here). */
    readonly storage?: string;
    readonly signingKey: string;
    /** The old key file while a rotation is configured (`config.previousSigner` of kind local). */
    readonly previousSigningKey?: string;
    readonly cipherKey: string;
    /** Each configured anchor's directory, by its index in `config.anchors`; undefined for one that is not `local`. */
    readonly anchors: readonly (string | undefined)[];
    /** Each `rfc3161` anchor's TSA certificate file, by its index in `config.anchors`; undefined for other kinds. */
    readonly tsaCertificates: readonly (string | undefined)[];
    /** The local executor's `network.trust` files (CA certificates its egress proxies trust); none otherwise. */
    readonly networkTrust: readonly string[];
    /** The kubernetes executor's `kubeconfigFile`; absent when unset (the client's default) or another executor. */
    readonly kubeconfig?: string;
    readonly executions: string;
    readonly work: string;
    readonly tokens: string;
    /** Webhook endpoints, deliveries and the event cursor (a database of their own). */
    readonly webhooks: string;
    /** The trigger deliveries already handled, so that a replay runs nothing (a database of their own; SQLite state only). */
    readonly triggers: string;
  };
}

/**
 * Finds and reads the config (`file`, or a `cairn.config.*` in `directory`), applies environment
 * overrides, and checks it — every problem at once, as CAIRN_CONFIG_INVALID naming each option
 * (`config.executor.sandbox`) and what to write instead.
 */
export function loadServerConfig(options: { readonly file?: string; readonly directory?: string; readonly env?: NodeJS.ProcessEnv } = {}): LoadedServerConfig {
  const file = options.file ? resolve(options.file) : findConfigFile(resolve(options.directory ?? '.'));
  let raw: unknown;
  try {
    raw = file.endsWith('.ts')
      ? readTypeScriptConfig(file)
      : file.endsWith('.json')
        ? JSON.parse(readFileSync(file, 'utf8'))
        : parseYaml(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `Cannot read the config ${file}: ${(error as Error).message}. Fix the file, or write a new one with \`cairn init\`.`,
      { path: file },
    );
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `The config ${file} must be a mapping of options (dataDirectory, storage, executor, ...); write one with \`cairn init\`.`,
      { path: file },
    );
  }
  const values = { ...(raw as Record<string, unknown>) };
  for (const [name, apply] of Object.entries(environmentOverrides)) {
    const value = (options.env ?? process.env)[name];
    if (value !== undefined && value !== '') apply(values, value);
  }
  const config = parseSettings(serverConfigSchema, values, 'config');
  const base = dirname(file);
  const absolute = (path: string) => (isAbsolute(path) ? path : join(base, path));
  const data = absolute(config.dataDirectory);
  const under = (path: string | undefined, fallback: string) => (path === undefined ? join(data, fallback) : absolute(path));
  return {
    file,
    config,
    paths: {
      dataDirectory: data,
      database: config.engine.state.kind === 'sqlite' && config.engine.state.path !== undefined ? absolute(config.engine.state.path) : join(data, 'cairn.db'),
      ...(config.storage.kind === 'local' ? { storage: under(config.storage.root, 'storage') } : {}),
      signingKey: under(config.signer.kind === 'local' ? config.signer.keyFile : undefined, 'keys/signing.pem'),
      ...(config.previousSigner?.kind === 'local' ? { previousSigningKey: absolute(config.previousSigner.keyFile!) } : {}),
      cipherKey: under(config.cipher.kind === 'local' ? config.cipher.keyFile : undefined, 'keys/cipher.key'),
      anchors: config.anchors.map((anchor, index) =>
        anchor.kind === 'local' ? under(anchor.directory, index === 0 ? 'anchor' : `anchor-${index}`) : undefined,
      ),
      tsaCertificates: config.anchors.map((anchor) => (anchor.kind === 'rfc3161' ? absolute(anchor.trustedCertificate) : undefined)),
      networkTrust: config.executor.kind === 'local' ? (config.executor.network?.trust ?? []).map((file) => absolute(file)) : [],
      ...(config.executor.kind === 'kubernetes' && config.executor.kubeconfigFile !== undefined
        ? { kubeconfig: absolute(config.executor.kubeconfigFile) }
        : {}),
      executions: join(data, 'executions'),
      work: under(config.executor.kind === 'local' ? config.executor.workRoot : undefined, 'work'),
      tokens: join(data, 'keys', 'tokens.json'),
      webhooks: join(data, 'webhooks.db'),
      triggers: join(data, 'triggers.db'),
    },
  };
}

function findConfigFile(directory: string): string {
  for (const name of configFileNames) {
    const path = join(directory, name);
    if (existsSync(path)) return path;
  }
  throw new CairnError('CAIRN_CONFIG_INVALID', `No ${configFileNames.join(', ')} in ${directory}: run \`cairn init\` there, or pass --config <file>.`, {
    path: directory,
  });
}

/**
 * A `cairn.config.ts` is a module whose default export is the config (typed with
 * `ServerConfigInput`). Node 24 strips its types and loads it synchronously through require(esm),
 * so every config, whatever its format, is read the same way and checked by the same schema.
 */
function readTypeScriptConfig(file: string): unknown {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  if (major < 22 || (major === 22 && minor < 18))
    throw new Error(`a TypeScript config needs Node 22.18 or later (this is ${process.versions.node}); use cairn.config.yaml`);
  const loaded = createRequire(import.meta.url)(file) as { default?: unknown };
  return loaded.default ?? loaded;
}
