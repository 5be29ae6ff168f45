// The process behind `bash scripts/dev-cloud.sh up`: the packages' loopback stand-ins for AWS, in
// one Node process that runs until SIGTERM (`dev-cloud.sh down`). They are test tools published as
// each package's `/testing` export, not part of the product, so this lives beside the scripts:
//   - a KMS endpoint (@cairn/kms/testing) with a P-256 signing key and a symmetric key,
//   - OpenSSL's RFC 3161 TSA behind HTTP (@cairn/timestamp/testing),
//   - with --with-fargate, an ECS endpoint (@cairn/fargate/testing) whose task definition
//     `cairn-worker` is the built worker image (packages/fargate/image/build-image.sh), unpacked
//     and run under bubblewrap,
// and two buckets on the S3 gateway scripts/radosgw.sh started (storage, and an Object Lock bucket
// for the anchor). When every one answers it writes, in the state folder (mode 0700):
//   state.json         pid, endpoints, ports, key ids, buckets, the server's port (what `status` shows)
//   cairn.config.yaml  a server config that uses them (what `up` and `config` print)
//   aws.env            the AWS_* variables the server needs (what `env` prints)
//   tsa.pem            the TSA's certificate, which the config's rfc3161 anchor trusts
// The keys live in this process only: `down` forgets them, so a server set up on them starts over.
//
// Usage: node scripts/dev-cloud.mjs STATE_FOLDER [--with-fargate]   (run by scripts/dev-cloud.sh)
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { serverPort } from './dev-cloud-port.mjs';

const repositoryRoot = new URL('../', import.meta.url);
const built = (path) => new URL(path, repositoryRoot).href;

const [folderArgument, ...flags] = process.argv.slice(2);
if (!folderArgument || flags.some((flag) => flag !== '--with-fargate')) {
  process.stderr.write('usage: node scripts/dev-cloud.mjs STATE_FOLDER [--with-fargate]\n');
  process.exit(2);
}
const folder = resolve(folderArgument);
const withFargate = flags.includes('--with-fargate');

// The built packages (scripts/setup.sh builds them), by path: the repository's root does not
// depend on them, and their own dependencies (the AWS SDK clients) resolve from their folders.
const { KmsTestEndpoint } = await import(built('packages/kms/dist/testing/index.js'));
const { OpensslTestTsa } = await import(built('packages/timestamp/dist/testing/index.js'));
const { createTestBucket, radosgwClient, radosgwConnection, radosgwEnvironment } = await import(built('packages/s3/dist/testing/index.js'));

const stops = [];
async function stopAll() {
  for (const stop of stops.reverse()) await stop().catch((error) => console.error(`stopping: ${error.message}`));
}
let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.error(`${signal}: stopping`);
    void stopAll().then(() => process.exit(0));
  });
}

try {
  const connection = radosgwConnection();
  const s3 = radosgwClient();
  const storageBucket = await createTestBucket(s3);
  const anchorBucket = await createTestBucket(s3, { objectLock: true });

  const kms = await KmsTestEndpoint.start();
  stops.push(() => kms.stop());
  const signingKey = kms.createKey('ECC_NIST_P256');
  const encryptionKey = kms.createKey('SYMMETRIC_DEFAULT');

  const tsa = await OpensslTestTsa.start();
  stops.push(() => tsa.close());
  const certificate = join(folder, 'tsa.pem');
  writeFileSync(certificate, tsa.certificate, { mode: 0o644 });

  let ecs;
  if (withFargate) {
    const { EcsTestEndpoint } = await import(built('packages/fargate/dist/testing/index.js'));
    // build-image.sh's own helper says where the image is and how it starts (Node strips its types).
    const { workerImageDefinition } = await import(built('packages/fargate/image/worker-image-paths.ts'));
    const image = workerImageDefinition();
    if (!existsSync(join(image.rootfs, 'opt')))
      throw new Error(`the worker image is not unpacked at ${image.rootfs}: build it with bash packages/fargate/image/build-image.sh`);
    ecs = await EcsTestEndpoint.start({
      clusters: ['cairn'],
      taskDefinitions: {
        'cairn-worker': {
          rootfs: image.rootfs,
          entrypoint: image.entrypoint,
          user: image.user,
          workingDirectory: image.workingDirectory,
          // What a task role gives a real task: credentials for S3 and KMS (here the S3 gateway's;
          // the KMS endpoint takes any).
          environment: { ...image.environment, ...radosgwEnvironment() },
        },
      },
    });
    stops.push(() => ecs.stop());
  }

  // 7600 as the docs say, unless a server (the getting-started one) holds it already.
  const server = await serverPort(7600);
  if (server.note) console.error(server.note);

  const s3Location = { region: connection.region, endpoint: connection.endpoint, forcePathStyle: true };
  const kmsKey = (keyId) => ({ kind: 'kms', keyId, region: 'us-east-1', endpoint: kms.url });
  const port = (url) => Number(new URL(url).port);
  const state = {
    pid: process.pid,
    startedAt: new Date().toISOString(),
    s3: { endpoint: connection.endpoint, region: connection.region, storageBucket, anchorBucket },
    kms: { url: kms.url, port: port(kms.url), signingKeyId: signingKey.keyId, encryptionKeyId: encryptionKey.keyId },
    tsa: { url: tsa.url, port: port(tsa.url), certificate },
    server,
    ...(ecs ? { ecs: { url: ecs.url, port: port(ecs.url), cluster: 'cairn', taskDefinition: 'cairn-worker' } } : {}),
  };

  // Written as YAML by hand: every value is a plain word, a URL or a path, and the root package
  // has no YAML library. The server's config schema (apps/server/src/config) reads it; `cairn
  // doctor` checks each seam.
  const lines = [
    '# A Cairn server on the loopback stand-ins of AWS that `bash scripts/dev-cloud.sh up` started',
    `# (${state.startedAt}): S3 storage and an S3 Object Lock anchor on Ceph's S3 gateway, an RFC 3161`,
    "# anchor at OpenSSL's TSA, KMS signer and cipher keys, and " + (ecs ? 'the Fargate executor on an ECS endpoint.' : 'the local executor (bubblewrap).'),
    '# Credentials are never written here: eval "$(bash scripts/dev-cloud.sh env)" before cairn serve.',
    '# Valid until `bash scripts/dev-cloud.sh down`, which forgets the KMS keys.',
    'dataDirectory: ./cairn-data',
    'server:',
    '  host: 127.0.0.1',
    `  port: ${server.port}`,
    ...(server.note ? [`  # ${server.note}`] : []),
    'storage:',
    '  kind: s3',
    `  bucket: ${storageBucket}`,
    '  prefix: cairn/',
    ...yamlFields(s3Location, '  '),
    // SSE-KMS with the key the gateway's own test KMS backend holds (scripts/radosgw.sh).
    `  encryption: { kind: sse-kms, keyId: ${connection.kmsKeyId} }`,
    'anchors:',
    '  - kind: s3-object-lock',
    `    bucket: ${anchorBucket}`,
    '    prefix: checkpoints/',
    ...yamlFields(s3Location, '    '),
    '    retentionDays: 1',
    '  - kind: rfc3161',
    `    url: ${tsa.url}`,
    `    trustedCertificate: ${certificate}`,
    'signer:',
    ...yamlFields(kmsKey(signingKey.keyId), '  '),
    'cipher:',
    ...yamlFields(kmsKey(encryptionKey.keyId), '  '),
    'executor:',
    ...(ecs
      ? yamlFields({ kind: 'fargate', cluster: 'cairn', taskDefinition: 'cairn-worker', region: 'us-east-1', endpoint: ecs.url }, '  ').concat([
          '  subnets: [subnet-0devcloud]   # the ECS endpoint runs every task on this host: any name does',
        ])
      : ['  kind: local', '  sandbox: bubblewrap']),
  ];
  writeFileSync(join(folder, 'cairn.config.yaml'), `${lines.join('\n')}\n`, { mode: 0o600 });
  const environment = radosgwEnvironment();
  writeFileSync(
    join(folder, 'aws.env'),
    Object.entries(environment)
      .map(([name, value]) => `export ${name}=${value}\n`)
      .join(''),
    { mode: 0o600 },
  );
  // Last: `dev-cloud.sh up` waits for this file, so it means every endpoint answers.
  writeFileSync(join(folder, 'state.json.partial'), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(join(folder, 'state.json.partial'), join(folder, 'state.json'));
  console.error(`up: ${JSON.stringify(state)}`);
} catch (error) {
  console.error(`dev-cloud failed to start: ${error.stack ?? error}`);
  await stopAll();
  process.exit(1);
}

/** `name: value` lines of a flat object, indented. */
function yamlFields(object, indent) {
  return Object.entries(object).map(([name, value]) => `${indent}${name}: ${value}`);
}
