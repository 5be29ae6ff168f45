// The server on KMS keys, as a user runs it: the built `dist/cli.js`, `cairn init`, a config whose
// signer and cipher are KMS keys (the KMS test endpoint on loopback; credentials only in the
// AWS_* environment of the spawned processes), `cairn serve`, a secret set through the CLI, and
// the demo run against it (`cairn demo --server`), whose evidence verifies with the KMS key trusted.
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KmsTestEndpoint } from '@cairn/kms/testing';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { useBuiltServer } from './built-server.test-support.ts';

let endpoint: KmsTestEndpoint;
beforeAll(async () => {
  endpoint = await KmsTestEndpoint.start();
});
afterAll(async () => {
  await endpoint.stop();
});

const { cairn, initialised, serve } = useBuiltServer(() => ({
  AWS_ACCESS_KEY_ID: 'AKIDCAIRNTEST',
  AWS_SECRET_ACCESS_KEY: 'cairn-test-secret',
  AWS_REGION: 'us-east-1',
}));

test(
  'cairn serve on a KMS signer and cipher runs the demo run; cairn key id names the KMS key; the bundle verifies with it trusted',
  { timeout: 180_000 },
  async () => {
    const signing = endpoint.createKey('ECC_NIST_P256');
    const encryption = endpoint.createKey('SYMMETRIC_DEFAULT');
    const { directory, token } = await initialised();
    const file = join(directory, 'cairn.config.yaml');
    const config = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
    // The key file `cairn init` wrote: another key, which a KMS-signed bundle must not verify with.
    const localKeyId = await cairn(directory, ['--json', 'key', 'id']);
    expect(localKeyId.status, localKeyId.stderr).toBe(0);
    const localKey = JSON.parse(localKeyId.stdout) as { keyId: string };
    writeFileSync(
      file,
      stringifyYaml({
        ...config,
        signer: { kind: 'kms', keyId: signing.keyId, endpoint: endpoint.url },
        cipher: { kind: 'kms', keyId: encryption.keyId, endpoint: endpoint.url },
      }),
    );
    const keyId = await cairn(directory, ['--json', 'key', 'id']);
    expect(keyId.status, keyId.stderr).toBe(0);
    const kmsKey = JSON.parse(keyId.stdout) as { keyId: string; algorithm: string };
    expect(kmsKey.algorithm).toBe('ecdsa-p256-sha256');

    const { base } = await serve(directory);
    const secret = await cairn(directory, ['secret', 'set', 'DEMO_TOKEN', '--server', base], { CAIRN_TOKEN: token }, 'kept-by-kms');
    expect(secret.status, secret.stdout + secret.stderr).toBe(0);
    expect(endpoint.requests.some((request) => request.operation === 'GenerateDataKey')).toBe(true);

    const demo = await cairn(directory, ['--json', 'demo', '--server', base, '--directory', join(directory, 'demo')], { CAIRN_TOKEN: token });
    expect(demo.status, demo.stdout + demo.stderr).toBe(0);
    const result = JSON.parse(demo.stdout) as { bundle: string; trustedKeyId: string; verify: { valid: boolean } };
    expect(result).toMatchObject({ trustedKeyId: kmsKey.keyId, verify: { valid: true } });
    const verified = await cairn(directory, ['verify', result.bundle, '--trusted-key', kmsKey.keyId]);
    expect(verified.stdout, verified.stderr).toMatch(/^valid: true/);
    expect(verified.stdout).toContain(`signed by ${kmsKey.keyId}`);
    // The served engine delegated (ADR 0020): its manifests are signed by a key the KMS key vouched for.
    const bundle = JSON.parse(readFileSync(result.bundle, 'utf8')) as {
      delegations?: unknown[];
      manifests: { envelope: { signatures: { keyid: string }[] } }[];
    };
    expect(bundle.delegations).toHaveLength(1);
    expect(bundle.manifests.length).toBeGreaterThan(0);
    expect(bundle.manifests.every((manifest) => manifest.envelope.signatures[0]!.keyid !== kmsKey.keyId)).toBe(true);
    expect(localKey.keyId).not.toBe(kmsKey.keyId);
    const untrusted = await cairn(tmpdir(), ['verify', result.bundle, '--trusted-key', localKey.keyId]);
    expect(untrusted.status, untrusted.stdout + untrusted.stderr).toBe(1);
    expect(untrusted.stdout).not.toMatch(/^valid: true/);
  },
);
