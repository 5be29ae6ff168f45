// The server on KMS keys, as a user runs it: the built `dist/cli.js`, `cairn init`, a config whose
// signer and cipher are KMS keys (the KMS test endpoint on loopback; credentials only in the
// AWS_* environment of the spawned processes), `cairn serve`, a secret set through the CLI, and
// the demo run against it (`cairn demo --server`), whose evidence verifies with the KMS key trusted.
// Then the whole of trusted evidence in AWS terms: KMS signer and cipher and an RFC 3161 anchor at a
// real TSA (OpenSSL's `ts -reply` on loopback); the bundle verifies `witnessed` outside the server's
// folder with exactly the KMS public key and the TSA certificate trusted, and `cairn doctor` checks
// each KMS permission.
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EvidenceBundleV1 } from '@cairn/core';
import { storedManifestSignatures } from '@cairn/audit';
import { KmsTestEndpoint } from '@cairn/kms/testing';
import { OpensslTestTsa } from '@cairn/timestamp/testing';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { useBuiltServer } from './built-server.test-support.ts';

let endpoint: KmsTestEndpoint;
let tsa: OpensslTestTsa;
beforeAll(async () => {
  [endpoint, tsa] = await Promise.all([KmsTestEndpoint.start(), OpensslTestTsa.start()]);
});
afterAll(async () => {
  await Promise.all([endpoint.stop(), tsa.close()]);
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
    const bundle = JSON.parse(readFileSync(result.bundle, 'utf8')) as EvidenceBundleV1;
    expect(bundle.delegations).toHaveLength(1);
    expect(bundle.manifests.length).toBeGreaterThan(0);
    expect(bundle.manifests.every((manifest) => storedManifestSignatures(manifest.envelope)[0]!.keyid !== kmsKey.keyId)).toBe(true);
    expect(localKey.keyId).not.toBe(kmsKey.keyId);
    const untrusted = await cairn(tmpdir(), ['verify', result.bundle, '--trusted-key', localKey.keyId]);
    expect(untrusted.status, untrusted.stdout + untrusted.stderr).toBe(1);
    expect(untrusted.stdout).not.toMatch(/^valid: true/);
  },
);

test(
  "KMS signer, KMS cipher and an RFC 3161 anchor: the demo run's bundle verifies witnessed with the KMS key and the TSA certificate trusted; doctor checks every KMS permission",
  { timeout: 240_000 },
  async () => {
    const signing = endpoint.createKey('ECC_NIST_P256');
    const encryption = endpoint.createKey('SYMMETRIC_DEFAULT');
    const { directory, token } = await initialised();
    writeFileSync(join(directory, 'tsa.pem'), tsa.certificate);
    const file = join(directory, 'cairn.config.yaml');
    const config = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(
      file,
      stringifyYaml({
        ...config,
        signer: { kind: 'kms', keyId: signing.keyId, endpoint: endpoint.url },
        cipher: { kind: 'kms', keyId: encryption.keyId, endpoint: endpoint.url },
        anchors: [{ kind: 'rfc3161', url: tsa.url, trustedCertificate: './tsa.pem' }],
      }),
    );
    const kmsKey = JSON.parse((await cairn(directory, ['--json', 'key', 'id'])).stdout) as { keyId: string };

    // Doctor asks KMS for each permission the server needs, one finding each.
    const doctor = await cairn(directory, ['--json', 'doctor']);
    const findings = JSON.parse(doctor.stdout) as { check: string; ok: boolean; detail: string }[];
    const kmsFindings = findings.filter((finding) => /^(signer|cipher) /.test(finding.check));
    for (const operation of ['Sign', 'GetPublicKey', 'GenerateDataKey', 'Decrypt'])
      expect(
        kmsFindings.some((finding) => finding.ok && finding.check.includes(operation)),
        `${operation} in ${JSON.stringify(kmsFindings)}`,
      ).toBe(true);
    expect(findings.find((finding) => finding.check === 'anchors[0] rfc3161')).toMatchObject({ ok: true });

    const { base } = await serve(directory);
    const secret = await cairn(directory, ['secret', 'set', 'DEMO_TOKEN', '--server', base], { CAIRN_TOKEN: token }, 'kept-by-kms');
    expect(secret.status, secret.stdout + secret.stderr).toBe(0);
    const demo = await cairn(directory, ['--json', 'demo', '--server', base, '--directory', join(directory, 'demo')], { CAIRN_TOKEN: token });
    expect(demo.status, demo.stdout + demo.stderr).toBe(0);
    const result = JSON.parse(demo.stdout) as { bundle: string };
    expect(JSON.parse(demo.stdout)).toMatchObject({ state: 'succeeded', trustedKeyId: kmsKey.keyId, verify: { valid: true, claim: 'witnessed' } });

    // Outside the server's folder nothing is trusted but what is named: the KMS key and the TSA's certificate.
    const witnessed = await cairn(tmpdir(), ['verify', result.bundle, '--trusted-key', kmsKey.keyId, '--trusted-tsa-cert', join(directory, 'tsa.pem')]);
    expect(witnessed.status, witnessed.stdout + witnessed.stderr).toBe(0);
    expect(witnessed.stdout).toMatch(/^valid: true, claim: witnessed, verdict: verified/);
    expect(witnessed.stdout).toContain(`signed by ${kmsKey.keyId}`);
    // Without the certificate the same bundle is only tamper-detecting: the claim is what was checked.
    const keyOnly = await cairn(tmpdir(), ['verify', result.bundle, '--trusted-key', kmsKey.keyId]);
    expect(keyOnly.stdout, keyOnly.stderr).toMatch(/^valid: true, claim: tamper-detecting/);
  },
);
