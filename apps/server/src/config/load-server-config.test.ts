import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { loadServerConfig } from './load-server-config.ts';
import { serverConfigSchema } from './server-config-schema.ts';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function configIn(text: string, name = 'cairn.config.yaml'): string {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-config-'));
  directories.push(directory);
  writeFileSync(join(directory, name), text);
  return directory;
}

test('every problem of a config is reported at once, each naming its option', () => {
  const directory = configIn('dataDirectory: ""\nserver: { port: 70000 }\nstorage: { kind: s4 }\nexecutor: { sandbox: docker }\nlogging: verbose\n');
  try {
    loadServerConfig({ directory, env: {} });
    expect.unreachable();
  } catch (error) {
    expect((error as { code: string }).code).toBe('CAIRN_CONFIG_INVALID');
    const issues = (error as { issues: { path: string; message: string }[] }).issues;
    expect(issues.map((issue) => issue.path).sort()).toEqual([
      'config.dataDirectory',
      'config.executor.sandbox',
      'config.logging',
      'config.server.port',
      'config.storage.kind',
    ]);
    expect(issues.find((issue) => issue.path === 'config.executor.sandbox')!.message).toBe("must be 'bubblewrap' or 'none' (development only)");
  }
});

test('paths are relative to the config file, default under the data directory, and the environment overrides', () => {
  const directory = configIn(JSON.stringify({ dataDirectory: './data', signer: { keyFile: '/etc/cairn/signing.pem' } }), 'cairn.config.json');
  const loaded = loadServerConfig({ directory, env: { CAIRN_PORT: '8123', CAIRN_SANDBOX: 'none', CAIRN_LOG_LEVEL: 'debug' } });
  expect(loaded.paths).toMatchObject({
    dataDirectory: join(directory, 'data'),
    database: join(directory, 'data', 'cairn.db'),
    storage: join(directory, 'data', 'storage'),
    signingKey: '/etc/cairn/signing.pem',
  });
  expect(loaded.config.server).toEqual({
    host: '127.0.0.1',
    port: 8123,
    auth: 'tokens',
    allowedHosts: [],
    uploadLimitMiB: 256,
    logLevel: 'debug',
    timeouts: { idle: '60s', headers: '10s', request: '60s', keepAlive: '5s', shutdownGrace: '10s', storeWait: '60s' },
  });
  expect(loaded.config.executor).toMatchObject({ kind: 'local', sandbox: 'none' });
  expect(loadServerConfig({ directory, env: {} }).config.server.logLevel).toBe('info');
  expect(() => loadServerConfig({ directory, env: { CAIRN_LOG_LEVEL: 'loud' } })).toThrow(expect.objectContaining({ path: 'config.server.logLevel' }));
});

test('a missing or unreadable config says how to make one', () => {
  const empty = mkdtempSync(join(tmpdir(), 'cairn-config-'));
  directories.push(empty);
  expect(() => loadServerConfig({ directory: empty })).toThrow(/run `cairn init` there/);
  expect(() => loadServerConfig({ directory: configIn('dataDirectory: [unclosed\n') })).toThrow(/Cannot read the config [\s\S]*cairn init/);
});

test('a cairn.config.ts is a module whose default export is the config, checked like any other', () => {
  const typed = configIn(
    "import type { ServerConfigInput } from '@cairn/server';\nconst config: ServerConfigInput = { dataDirectory: './data', server: { port: 7700 } };\nexport default config;\n",
    'cairn.config.ts',
  );
  expect(loadServerConfig({ directory: typed, env: {} })).toMatchObject({ config: { server: { port: 7700 } }, paths: { dataDirectory: join(typed, 'data') } });
  const wrong = configIn("export default { dataDirectory: './data', executor: { sandbox: 'docker' } };\n", 'cairn.config.ts');
  expect(() => loadServerConfig({ directory: wrong, env: {} })).toThrow(/config\.executor\.sandbox/);
  const broken = configIn('export default {', 'cairn.config.ts');
  expect(() => loadServerConfig({ directory: broken, env: {} })).toThrow(/Cannot read the config [\s\S]*cairn\.config\.ts/);
});

test('runtimes: each agent runtime is configured by adapter name, its API key only by secret name, and every bad option is named', () => {
  const good = configIn(
    [
      'dataDirectory: ./data',
      'runtimes:',
      '  openai-compatible: { baseUrl: "http://127.0.0.1:11434/v1", model: qwen3, apiKeySecret: OPENAI_API_KEY, requestTimeout: 2m }',
      '  claude-code: { command: /opt/claude/bin/claude, model: claude-sonnet-4-5, maxTurns: 30 }',
      '',
    ].join('\n'),
  );
  expect(loadServerConfig({ directory: good, env: {} }).config.runtimes).toEqual({
    'openai-compatible': {
      baseUrl: 'http://127.0.0.1:11434/v1',
      model: 'qwen3',
      apiKeySecret: 'OPENAI_API_KEY',
      maxTurns: 20,
      requestTimeout: '2m',
      maxRetries: 2,
      execTimeout: '5m',
      maxToolOutputBytes: 65_536,
    },
    'claude-code': { command: '/opt/claude/bin/claude', model: 'claude-sonnet-4-5', maxTurns: 30, permissionMode: 'acceptEdits' },
  });
  expect(loadServerConfig({ directory: configIn('dataDirectory: ./data\n'), env: {} }).config.runtimes).toEqual({});
  // An endpoint on the IPv6 loopback is a URL like any other.
  expect(
    loadServerConfig({ directory: configIn('dataDirectory: ./data\nruntimes: { openai-compatible: { baseUrl: "http://[::1]:8000/v1" } }\n'), env: {} }).config
      .runtimes['openai-compatible']?.baseUrl,
  ).toBe('http://[::1]:8000/v1');

  const bad = configIn(
    [
      'dataDirectory: ./data',
      'runtimes:',
      '  openai-compatible: { baseUrl: "ftp://models", apiKey: sk-inline, apiKeySecret: "sk-live-123", requestTimeout: 2h, maxTurns: 0 }',
      '  claude-code: { command: bin/claude, package: /opt/claude/node_modules/@anthropic-ai/claude-code, permissionMode: yolo }',
      '  gemini: { model: pro }',
      '',
    ].join('\n'),
  );
  try {
    loadServerConfig({ directory: bad, env: {} });
    expect.unreachable();
  } catch (error) {
    expect((error as { code: string }).code).toBe('CAIRN_CONFIG_INVALID');
    const issues = (error as { issues: { path: string; message: string }[] }).issues;
    const at = (path: string) => issues.find((issue) => issue.path === path)?.message;
    expect(at('config.runtimes.openai-compatible.baseUrl')).toContain('http(s) URL');
    expect(at('config.runtimes.openai-compatible.apiKey')).toContain('runtimes.openai-compatible.apiKeySecret');
    expect(at('config.runtimes.openai-compatible.apiKeySecret')).toContain('never the key itself');
    expect(at('config.runtimes.openai-compatible.requestTimeout')).toBe('must be at most 1h');
    expect(at('config.runtimes.openai-compatible.maxTurns')).toBeDefined();
    expect(at('config.runtimes.claude-code.command')).toContain('absolute path');
    expect(at('config.runtimes.claude-code.permissionMode')).toContain('acceptEdits');
    expect(at('config.runtimes.gemini')).toBeDefined();
  }
  const both = configIn('dataDirectory: ./data\nruntimes:\n  claude-code: { command: claude, package: /opt/claude/node_modules/@anthropic-ai/claude-code }\n');
  expect(() => loadServerConfig({ directory: both, env: {} })).toThrow(
    expect.objectContaining({ path: 'config.runtimes.claude-code.package', message: expect.stringContaining('command or package, not both') }),
  );
});

test('the config shown in docs/operations/configuration.md is accepted as written, and shows every section of the schema', () => {
  const page = readFileSync(join(import.meta.dirname, '..', '..', '..', '..', 'docs', 'operations', 'configuration.md'), 'utf8');
  const shown = [...page.matchAll(/^```yaml\n([\s\S]*?)^```/gm)].map((match) => match[1]!).find((block) => block.startsWith('dataDirectory:'));
  expect(shown).toBeDefined();
  const loaded = loadServerConfig({ directory: configIn(shown!), env: {} });
  expect(Object.keys(serverConfigSchema.shape).filter((section) => !new RegExp(`^${section}:`, 'm').test(shown!))).toEqual([]);
  expect(Object.keys(loaded.config.runtimes).sort()).toEqual(['claude-code', 'codex', 'openai-compatible']);
});

test('storage and anchors are chosen by kind: local by default, s3 and s3-object-lock with their options; local paths only for local kinds', () => {
  const local = loadServerConfig({ directory: configIn('dataDirectory: ./data\nstorage: { root: ./objects }\n'), env: {} });
  expect(local.config.storage).toEqual({ kind: 'local', root: './objects' });
  expect(local.config.anchors).toEqual([{ kind: 'local' }]);
  expect(local.paths.storage).toMatch(/\/objects$/);
  expect(local.paths.anchors).toEqual([join(local.paths.dataDirectory, 'anchor')]);

  const s3 = loadServerConfig({
    directory: configIn(
      [
        'dataDirectory: ./data',
        'storage: { kind: s3, bucket: acme-cairn, prefix: cairn/, region: us-east-1, endpoint: "http://127.0.0.1:7480", forcePathStyle: true, encryption: { kind: sse-kms, keyId: alias/cairn } }',
        'anchors:',
        '  - { kind: local }',
        '  - { kind: s3-object-lock, bucket: acme-anchor, prefix: checkpoints, retentionDays: 365 }',
        '',
      ].join('\n'),
    ),
    env: {},
  });
  expect(s3.config.storage).toEqual({
    kind: 's3',
    bucket: 'acme-cairn',
    prefix: 'cairn/',
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:7480',
    forcePathStyle: true,
    requestTimeoutMs: 30_000,
    maxAttempts: 5,
    outageBudgetMs: 60_000,
    encryption: { kind: 'sse-kms', keyId: 'alias/cairn' },
  });
  expect(s3.config.anchors[1]).toMatchObject({
    kind: 's3-object-lock',
    bucket: 'acme-anchor',
    prefix: 'checkpoints',
    retentionDays: 365,
    forcePathStyle: false,
  });
  // No local path is invented for a bucket.
  expect(s3.paths.storage).toBeUndefined();
  expect(s3.paths.anchors).toEqual([join(s3.paths.dataDirectory, 'anchor'), undefined]);
});

test('S3 options are checked, every problem named by its option path; credentials are refused with where they belong', () => {
  const directory = configIn(
    [
      'dataDirectory: ./data',
      'storage: { kind: s3, bucket: Bad_Bucket, prefix: /cairn, endpoint: ftp://x, accessKeyId: AKIA, secretAccessKey: shh, encryption: { kind: aes } }',
      'anchors:',
      '  - { kind: s3-object-lock, bucket: acme-anchor, retentionDays: 0, secretAccessKey: shh }',
      '  - { kind: s3-object-lock, prefix: x }',
      '  - { kind: s4 }',
      '',
    ].join('\n'),
  );
  try {
    loadServerConfig({ directory, env: {} });
    expect.unreachable();
  } catch (error) {
    expect((error as { code: string }).code).toBe('CAIRN_CONFIG_INVALID');
    const issues = (error as { issues: { path: string; message: string }[] }).issues;
    const byPath = Object.fromEntries(issues.map((issue) => [issue.path, issue.message]));
    expect(Object.keys(byPath).sort()).toEqual([
      'config.anchors.0.retentionDays',
      'config.anchors.0.secretAccessKey',
      'config.anchors.1.bucket',
      'config.anchors.1.retentionDays',
      'config.anchors.2.kind',
      'config.storage.accessKeyId',
      'config.storage.bucket',
      'config.storage.encryption.kind',
      'config.storage.endpoint',
      'config.storage.prefix',
      'config.storage.secretAccessKey',
    ]);
    expect(byPath['config.storage.accessKeyId']).toMatch(/never written in the config.*AWS_ACCESS_KEY_ID.*role/);
    expect(byPath['config.anchors.0.secretAccessKey']).toMatch(/never written in the config/);
    expect(byPath['config.anchors.2.kind']).toBe(
      "must be 'local' (a directory), 's3-object-lock' (an S3 bucket with Object Lock) or 'rfc3161' (a timestamp authority: url and trustedCertificate)",
    );
    expect(byPath['config.anchors.1.bucket']).toMatch(/must name the bucket/);
  }
});

test("the server's S3 options are exactly @cairn/s3's location settings (but the injected client)", async () => {
  const { s3LocationSettingsShape } = await import('@cairn/s3');
  const { s3LocationOptionNames } = await import('./aws-config-shapes.ts');
  expect([...s3LocationOptionNames].sort()).toEqual(
    Object.keys(s3LocationSettingsShape)
      .filter((name) => name !== 'client')
      .sort(),
  );
});

test("the storage's outageBudgetMs is @cairn/s3's storage setting, with its default", async () => {
  const { s3StorageProviderSettingsSchema } = await import('@cairn/s3');
  const fromPackage = s3StorageProviderSettingsSchema.parse({ bucket: 'acme-cairn' }).outageBudgetMs;
  const fromConfig = loadServerConfig({ directory: configIn('dataDirectory: ./data\nstorage: { kind: s3, bucket: acme-cairn }\n'), env: {} }).config.storage;
  expect(fromConfig).toMatchObject({ outageBudgetMs: fromPackage });
  expect(fromPackage).toBeGreaterThanOrEqual(60_000);
});

test("the server's KMS options are exactly @cairn/kms's key settings (but the injected client)", async () => {
  const { kmsKeySettingsShape } = await import('@cairn/kms');
  const { kmsKeyOptionNames } = await import('./aws-config-shapes.ts');
  expect([...kmsKeyOptionNames].sort()).toEqual(
    Object.keys(kmsKeySettingsShape)
      .filter((name) => name !== 'client')
      .sort(),
  );
});

test('an rfc3161 anchor names its TSA url and certificate file (relative to the config); a bad url or a missing certificate is named', () => {
  const directory = configIn(
    [
      'dataDirectory: ./data',
      'anchors:',
      '  - { kind: local }',
      '  - { kind: rfc3161, url: "https://tsa.example/tsr", trustedCertificate: ./keys/tsa.pem, timeoutMs: 5000 }',
      '',
    ].join('\n'),
  );
  const loaded = loadServerConfig({ directory, env: {} });
  expect(loaded.config.anchors[1]).toEqual({ kind: 'rfc3161', url: 'https://tsa.example/tsr', trustedCertificate: './keys/tsa.pem', timeoutMs: 5000 });
  expect(loaded.paths.tsaCertificates).toEqual([undefined, join(directory, 'keys', 'tsa.pem')]);
  expect(loaded.paths.anchors).toEqual([join(loaded.paths.dataDirectory, 'anchor'), undefined]);

  const bad = configIn(['dataDirectory: ./data', 'anchors:', '  - { kind: rfc3161, url: "ftp://tsa.example/" }', ''].join('\n'));
  try {
    loadServerConfig({ directory: bad, env: {} });
    expect.unreachable();
  } catch (error) {
    const issues = (error as { issues: { path: string; message: string }[] }).issues;
    const byPath = Object.fromEntries(issues.map((issue) => [issue.path, issue.message]));
    expect(Object.keys(byPath).sort()).toEqual(['config.anchors.0.trustedCertificate', 'config.anchors.0.url']);
    expect(byPath['config.anchors.0.url']).toMatch(/must be the http\(s\) URL of the TSA's RFC 3161 endpoint/);
  }
});

const awsSeams = [
  'storage: { kind: s3, bucket: acme-cairn, prefix: cairn/, region: eu-west-1 }',
  'cipher: { kind: kms, keyId: alias/cairn-secrets, region: eu-west-1 }',
];

test('executor kind fargate: its ECS options with their defaults; CAIRN_SANDBOX leaves it alone; the work root stays under the data directory', () => {
  const directory = configIn(
    [
      'dataDirectory: ./data',
      ...awsSeams,
      'executor: { kind: fargate, cluster: cairn, taskDefinition: "cairn-worker:3", subnets: [subnet-0a, subnet-0b], region: eu-west-1 }',
      '',
    ].join('\n'),
  );
  const loaded = loadServerConfig({ directory, env: { CAIRN_SANDBOX: 'none' } });
  expect(loaded.config.executor).toEqual({
    kind: 'fargate',
    cluster: 'cairn',
    taskDefinition: 'cairn-worker:3',
    containerName: 'cairn-worker',
    subnets: ['subnet-0a', 'subnet-0b'],
    securityGroups: [],
    assignPublicIp: false,
    region: 'eu-west-1',
    requestTimeoutMs: 10_000,
    maxAttempts: 5,
  });
  expect(loaded.paths.work).toBe(join(directory, 'data', 'work'));
  // A config without an executor is still a local one, sandboxed by default.
  expect(loadServerConfig({ directory: configIn('dataDirectory: ./data\n'), env: {} }).config.executor).toEqual({ kind: 'local', sandbox: 'bubblewrap' });
});

test('a fargate executor over local storage or a key-file cipher is refused, naming config.storage and config.cipher and what to set', () => {
  const directory = configIn('dataDirectory: ./data\nexecutor: { kind: fargate, cluster: cairn, taskDefinition: cairn-worker, subnets: [subnet-0a] }\n');
  try {
    loadServerConfig({ directory, env: {} });
    expect.unreachable();
  } catch (error) {
    expect((error as { code: string }).code).toBe('CAIRN_CONFIG_INVALID');
    const issues = (error as { issues: { path: string; message: string }[] }).issues;
    const byPath = Object.fromEntries(issues.map((issue) => [issue.path, issue.message]));
    expect(Object.keys(byPath).sort()).toEqual(['config.cipher', 'config.storage']);
    expect(byPath['config.storage']).toMatch(
      /must be an S3 bucket when executor.kind is fargate: .*cannot read the server's local folder; set storage: \{ kind: s3/,
    );
    expect(byPath['config.cipher']).toMatch(/must be a KMS key when executor.kind is fargate: .*set cipher: \{ kind: kms/);
  }
  // S3 storage alone is not enough: the cipher is still a key file.
  const halfway = configIn(
    `dataDirectory: ./data\n${awsSeams[0]}\nexecutor: { kind: fargate, cluster: cairn, taskDefinition: cairn-worker, subnets: [subnet-0a] }\n`,
  );
  expect(() => loadServerConfig({ directory: halfway, env: {} })).toThrow(expect.objectContaining({ code: 'CAIRN_CONFIG_INVALID', path: 'config.cipher' }));
});

test('a fargate executor with the gateway on needs a gateway.publicUrl its tasks reach: unset or loopback is refused, saying what to set', () => {
  const fargate = ['dataDirectory: ./data', ...awsSeams, 'executor: { kind: fargate, cluster: cairn, taskDefinition: cairn-worker, subnets: [subnet-0a] }'];
  const load = (gateway: string) => loadServerConfig({ directory: configIn([...fargate, gateway, ''].join('\n')), env: {} });
  for (const gateway of [
    'gateway: { enabled: true }',
    'gateway: { enabled: true, publicUrl: "http://127.0.0.1:7411" }',
    'gateway: { enabled: true, publicUrl: "http://localhost:7411" }',
  ]) {
    expect(() => load(gateway), gateway).toThrow(
      expect.objectContaining({
        code: 'CAIRN_CONFIG_INVALID',
        path: 'config.gateway.publicUrl',
        message: expect.stringMatching(
          /when executor.kind is fargate and the gateway is enabled: .*set gateway.publicUrl to the server's address as tasks reach it/,
        ),
      }),
    );
  }
  expect(load('gateway: { enabled: true, host: 0.0.0.0, port: 7411, publicUrl: "http://10.0.1.5:7411" }').config.gateway).toMatchObject({
    publicUrl: 'http://10.0.1.5:7411',
  });
  // Off, or with a local executor, nothing is asked of it.
  expect(() => load('gateway: { enabled: false }')).not.toThrow();
  expect(() => loadServerConfig({ directory: configIn('dataDirectory: ./data\ngateway: { enabled: true }\n'), env: {} })).not.toThrow();
});

test("a runtime's default model the gateway does not allow is refused at boot, naming both settings and what to change", () => {
  const load = (text: string) => loadServerConfig({ directory: configIn(`dataDirectory: ./data\n${text}\n`), env: {} });
  const codex = 'runtimes: { codex: { model: gpt-5.5 }, claude-code: { model: claude-sonnet-4-5 } }';
  try {
    load(`${codex}\ngateway: { enabled: true, models: { claude-code: [claude-haiku-4-5] } }`);
    expect.unreachable();
  } catch (error) {
    expect((error as { code: string }).code).toBe('CAIRN_CONFIG_INVALID');
    const issues = (error as { issues: { path: string; message: string }[] }).issues;
    expect(issues.map((issue) => issue.path).sort()).toEqual(['config.runtimes.claude-code.model', 'config.runtimes.codex.model']);
    expect(issues.find((issue) => issue.path === 'config.runtimes.codex.model')!.message).toBe(
      'is "gpt-5.5", which the model gateway does not let codex attempts call: gateway.models.codex lists no model, so every call of an item naming no model would be refused (403, CAIRN_MODEL_NOT_ALLOWED); add it to gateway.models (gateway: { models: { codex: [gpt-5.5] } }), or remove runtimes.codex.model',
    );
    expect(issues.find((issue) => issue.path === 'config.runtimes.claude-code.model')!.message).toContain(
      'gateway.models.claude-code lists only "claude-haiku-4-5"',
    );
  }
  // Allowed, or with the gateway off (the runtimes reach their providers themselves): nothing to refuse.
  expect(() => load(`${codex}\ngateway: { enabled: true, models: { codex: [gpt-5.5], claude-code: [claude-sonnet-4-5, claude-haiku-4-5] } }`)).not.toThrow();
  expect(() => load(codex)).not.toThrow();
});

test("budgets-and-quotas.md's gateway config starts as written: its runtimes' models are ones its gateway allows", () => {
  const page = readFileSync(join(import.meta.dirname, '../../../../docs/guides/budgets-and-quotas.md'), 'utf8');
  const block = /```yaml\n(gateway:[\s\S]*?)```/.exec(page)![1]!;
  expect(block).toContain('codex: { model: gpt-5.5 }');
  expect(loadServerConfig({ directory: configIn(`dataDirectory: ./data\n${block}`), env: {} }).config.gateway.models).toEqual({ codex: ['gpt-5.5'] });
});

test('fargate options are checked, each problem named by its option; credentials are refused; an unknown executor kind names both kinds', () => {
  const directory = configIn(
    [
      'dataDirectory: ./data',
      ...awsSeams,
      'executor: { kind: fargate, taskDefinition: "", subnets: [], assignPublicIp: yes, endpoint: ftp://ecs, sandbox: none, secretAccessKey: shh, securityGroups: [a, b, c, d, e, f] }',
      '',
    ].join('\n'),
  );
  try {
    loadServerConfig({ directory, env: {} });
    expect.unreachable();
  } catch (error) {
    expect((error as { code: string }).code).toBe('CAIRN_CONFIG_INVALID');
    const issues = (error as { issues: { path: string; message: string }[] }).issues;
    const byPath = Object.fromEntries(issues.map((issue) => [issue.path, issue.message]));
    expect(Object.keys(byPath).sort()).toEqual([
      'config.executor.assignPublicIp',
      'config.executor.cluster',
      'config.executor.endpoint',
      'config.executor.sandbox',
      'config.executor.secretAccessKey',
      'config.executor.securityGroups',
      'config.executor.subnets',
      'config.executor.taskDefinition',
    ]);
    expect(byPath['config.executor.cluster']).toMatch(/must name the ECS cluster/);
    expect(byPath['config.executor.subnets']).toMatch(/at least one subnet/);
    expect(byPath['config.executor.secretAccessKey']).toMatch(/never written in the config.*role/);
    expect(byPath['config.executor.sandbox']).toMatch(/not an option here/);
  }
  expect(() => loadServerConfig({ directory: configIn('dataDirectory: ./data\nexecutor: { kind: lambda }\n'), env: {} })).toThrow(
    /"config.executor.kind" must be 'local' \(bubblewrap sandboxes on this machine\), 'fargate' \(AWS ECS Fargate tasks\) or 'kubernetes' \(a pod per attempt in a Kubernetes namespace\)/,
  );
});

test("the server's fargate options are @cairn/fargate's executor settings, but what the server supplies (storage, cipher, keys, client, logger)", async () => {
  const { fargateExecutorSettingsSchema } = await import('@cairn/fargate');
  const { fargateExecutorOptionNames } = await import('./executor-config-schema.ts');
  const supplied = ['storage', 'taskStorage', 'cipher', 'taskCipher', 'trustedKeys', 'client', 'logger'];
  expect([...fargateExecutorOptionNames].sort()).toEqual(
    Object.keys(fargateExecutorSettingsSchema.shape)
      .filter((name) => !supplied.includes(name))
      .sort(),
  );
});

test('engine.state: sqlite by default (its file under the data directory, or where `path` says), postgres with its connection; bad options named', () => {
  const byDefault = loadServerConfig({ directory: configIn('dataDirectory: ./data\n'), env: {} });
  expect(byDefault.config.engine.state).toEqual({ kind: 'sqlite' });
  expect(byDefault.paths.database).toBe(join(byDefault.paths.dataDirectory, 'cairn.db'));
  const elsewhere = loadServerConfig({ directory: configIn('dataDirectory: ./data\nengine: { state: { kind: sqlite, path: ./state/engine.db } }\n'), env: {} });
  expect(elsewhere.paths.database).toBe(join(elsewhere.file, '..', 'state', 'engine.db'));
  const shared = loadServerConfig({
    directory: configIn('dataDirectory: ./data\nengine: { state: { kind: postgres, host: db.internal, port: 5432, database: cairn, user: cairn } }\n'),
    env: {},
  });
  expect(shared.config.engine.state).toMatchObject({ kind: 'postgres', host: 'db.internal', port: 5432, database: 'cairn', user: 'cairn', schema: 'cairn' });
  try {
    loadServerConfig({
      directory: configIn('dataDirectory: ./data\nengine: { state: { kind: postgres, port: 99999, schema: Bad-Name, pool: 3 } }\n'),
      env: {},
    });
    expect.unreachable();
  } catch (error) {
    const issues = (error as { issues: { path: string; message: string }[] }).issues;
    expect(issues.map((issue) => issue.path).sort()).toEqual(['config.engine.state.pool', 'config.engine.state.port', 'config.engine.state.schema']);
  }
  try {
    loadServerConfig({ directory: configIn('dataDirectory: ./data\nengine: { state: { kind: mysql } }\n'), env: {} });
    expect.unreachable();
  } catch (error) {
    const issues = (error as { issues: { path: string; message: string }[] }).issues;
    expect(issues).toEqual([expect.objectContaining({ path: 'config.engine.state.kind', message: expect.stringContaining("'sqlite' or 'postgres'") })]);
  }
});

test('the engine.state blocks of docs/operations/configuration.md load as written, and its table names the real default lease key and defaults', async () => {
  const { defaultLockKeyOf } = await import('@cairn/engine/internals');
  const page = readFileSync(join(import.meta.dirname, '..', '..', '..', '..', 'docs', 'operations', 'configuration.md'), 'utf8');
  const blocks = [...page.matchAll(/^```yaml\n([\s\S]*?)^```/gm)].map((match) => match[1]!).filter((block) => block.startsWith('engine:\n  state'));
  expect(blocks.length).toBe(3);
  const states = blocks.map((block) => loadServerConfig({ directory: configIn(`dataDirectory: ./cairn-data\n${block}`), env: {} }).config.engine.state);
  expect(states.map((state) => state.kind)).toEqual(['sqlite', 'postgres', 'postgres']);
  expect(states[1]).toMatchObject({
    host: 'db.internal',
    schema: 'cairn',
    keepAliveMs: 10_000,
    idleInTransactionTimeoutMs: 60_000,
    statementTimeoutMs: 300_000,
  });
  // The defaults the table states are the schema's (the config of kind only, everything defaulted).
  expect(states[2]).toEqual({
    kind: 'postgres',
    schema: 'cairn',
    keepAliveMs: 10_000,
    idleInTransactionTimeoutMs: 60_000,
    statementTimeoutMs: 300_000,
    connectTimeoutMs: 10_000,
  });
  expect(page).toContain(`from the schema: \`${defaultLockKeyOf('cairn')}\``);
});

test("the OpenID sign-in page's config block loads as written, its roles and grants kept", () => {
  const page = readFileSync(new URL('../../../../docs/operations/sign-in-with-oidc.md', import.meta.url), 'utf8');
  const block = /^```yaml\n([\s\S]*?)^```/m.exec(page)![1]!;
  const { config } = loadServerConfig({ directory: configIn(`dataDirectory: ./data\n${block}`), env: {} });
  expect(config.server.auth).toBe('tokens');
  expect(config.server.oidc).toMatchObject({
    issuer: 'https://login.example.com/realms/acme',
    audience: 'cairn',
    roles: { approver: ['runs:read', 'runs:approve'] },
    grants: [
      { group: 'eng', role: 'operator' },
      { group: 'release-managers', role: 'approver' },
      { email: 'ana@example.com', role: 'admin' },
    ],
    dashboard: {
      clientId: 'cairn-dashboard',
      redirectUri: 'https://cairn.example.com/v1/session/oidc/callback',
      sessionMinutes: 60,
      scopes: ['openid', 'email'],
    },
    cli: { clientId: 'cairn-cli', scopes: ['openid', 'offline_access'] },
  });
  // A redirect URI elsewhere than this server's callback is refused, saying where it must end.
  expect(() =>
    loadServerConfig({
      directory: configIn(`dataDirectory: ./data\n${block.replace('/v1/session/oidc/callback', '/callback')}`),
      env: {},
    }),
  ).toThrow(/server\.oidc\.dashboard\.redirectUri.*must end in \/v1\/session\/oidc\/callback/s);
});
