// A patch's provenance through a real server (SQLite, directory storage, the local executor):
// docs/audit/provenance.md runs as written with the built `cairn`, and the bundle it fetched is
// verified by Cairn's verifier and independently by @sigstore/verify (its Verifier, the key as
// trust material, no transparency log), signed by the server's key file and by a KMS key; a
// changed patch, statement or signature fails both verifiers.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findPatchAttempt, patchProvenanceStatement, serializeProvenanceBundle, signProvenance, verifyProvenance } from '@cairn/audit';
import type { AuditEntry, PublicKeyRecord } from '@cairn/core';
import { createKmsSigner } from '@cairn/kms';
import { KmsTestEndpoint } from '@cairn/kms/testing';
import { manifestKey } from '@cairn/protocol';
import { createCairnClient } from '@cairn/client';
import { bundleFromJSON } from '@sigstore/bundle';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { afterEach, expect, test } from 'vitest';
import { VERSION } from '../../version.ts';
import { runningServers } from '../../http/running-server.test-support.ts';

const start = runningServers();
const repository = fileURLToPath(new URL('../../../../../', import.meta.url));
const page = readFileSync(join(repository, 'docs/audit/provenance.md'), 'utf8');
const blocks = (language: string) => [...page.matchAll(new RegExp(`^\`\`\`${language}\\n([\\s\\S]*?)^\`\`\``, 'gm'))].map((match) => match[1]!);
const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

/**
 * Runs a shell block of the page as written (bash -euo pipefail) with the built `cairn` on PATH; a
 * child process, so that the server in this process keeps answering.
 */
function runBlock(block: string, cwd: string, env: Record<string, string>): Promise<{ status: number | null; output: string }> {
  const path = [join(repository, '.tools', 'bin'), dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':');
  // stdin closed: bash reads /etc/bash.bashrc when its stdin is a socket, as Node's pipes are.
  const shell = spawn('bash', ['-euo', 'pipefail', '-c', block], {
    cwd,
    env: { HOME: cwd, LANG: 'C.UTF-8', PATH: path, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  shell.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  shell.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  return new Promise((resolve) => shell.on('close', (status) => resolve({ status, output })));
}

/** @sigstore/verify's Verifier over the bundle, trusting `key` by its id; then the subject against the patch, which the library leaves to its caller. */
function verifyWithSigstore(
  bytes: Uint8Array,
  key: PublicKeyRecord,
  patch: Uint8Array,
  thresholds = { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 },
) {
  const bundle = bundleFromJSON(JSON.parse(Buffer.from(bytes).toString('utf8')));
  type Keys = Exclude<Parameters<typeof toTrustMaterial>[1], ((...args: never[]) => unknown) | undefined>;
  const keys = { [key.keyId]: { rawBytes: Buffer.from(key.publicKey, 'base64'), keyDetails: 0 } } as unknown as Keys;
  const root = { certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [] } as unknown as Parameters<typeof toTrustMaterial>[0];
  new Verifier(toTrustMaterial(root, keys), thresholds).verify(toSignedEntity(bundle));
  if (bundle.content.$case !== 'dsseEnvelope') throw new Error('no DSSE envelope');
  const statement = JSON.parse(Buffer.from(bundle.content.dsseEnvelope.payload).toString('utf8')) as { subject: { digest: { sha256: string } }[] };
  const actual = createHash('sha256').update(patch).digest('hex');
  if (statement.subject[0]!.digest.sha256 !== actual) throw new Error(`subject mismatch: the patch hashes to ${actual}`);
}

test(
  "the page's commands run as written; the provenance they fetch verifies with Cairn and with @sigstore/verify, and tampering fails both",
  { timeout: 60_000 },
  async () => {
    const { base, directory, composition, operatorToken } = await start();
    const reader = mkdtempSync(join(tmpdir(), 'cairn-provenance-'));
    folders.push(reader);
    const env = { CAIRN_SERVER: base, CAIRN_TOKEN: operatorToken };
    const [spec] = blocks('yaml');
    const [fetchBlock, exportBlock, verifyBlock] = blocks('sh');
    writeFileSync(join(reader, 'release.yaml'), spec!);
    const fetched = await runBlock(fetchBlock!, reader, env);
    expect(fetched.status, fetched.output).toBe(0);
    // The operator exports the key in the server's folder; the reader verifies with it elsewhere.
    expect(await runBlock(exportBlock!, directory, {})).toMatchObject({ status: 0 });
    copyFileSync(join(directory, 'signing-key.pub.pem'), join(reader, 'signing-key.pub.pem'));
    const verified = await runBlock(verifyBlock!, reader, {});
    expect(verified.status, verified.output).toBe(0);
    const shown = blocks('text')[0]!
      .split('\n')
      .filter((line) => line !== '');
    expect(verified.output.split('\n').filter((line) => line !== '')).toHaveLength(shown.length);
    for (const [index, line] of shown.entries()) {
      const [before] = line.split('…');
      expect(verified.output.split('\n')[index]).toMatch(new RegExp(`^${before!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    }

    const bytes = new Uint8Array(readFileSync(join(reader, 'edit.provenance.json')));
    const patch = new Uint8Array(readFileSync(join(reader, 'edit.patch')));
    const key = composition.signingKey;
    const report = verifyProvenance(bytes, { trustedKeys: [key], patch });
    expect(report.valid, JSON.stringify(report.checks)).toBe(true);
    verifyWithSigstore(bytes, key, patch);
    // Sigstore's default policy wants a transparency-log entry and a timestamp, which Cairn does not write.
    expect(() => verifyWithSigstore(bytes, key, patch, {} as never)).toThrow(/expected 1 timestamps, got 0/);

    // What the statement says, against what the server recorded.
    const client = createCairnClient({ baseUrl: base, token: operatorToken });
    const runId = (await client.runs()).runs[0]!.runId as string;
    const [attempt] = await client.attempts(runId, 'edit');
    const draftPatch = ((await client.attempts(runId, 'draft'))[0]!['artifacts'] as Record<string, string>)['patch']!;
    const { buildDefinition, runDetails } = report.statement!.predicate;
    expect(report.statement!.subject).toEqual([{ name: 'edit.patch', digest: { sha256: createHash('sha256').update(patch).digest('hex') } }]);
    expect(buildDefinition.externalParameters).toMatchObject({ runId, itemId: 'edit' });
    expect(buildDefinition.resolvedDependencies).toContainEqual({
      name: 'dispatch-manifest',
      digest: { sha256: attempt!.manifestDigest.slice(7) },
      mediaType: 'application/json',
    });
    expect(buildDefinition.resolvedDependencies).toContainEqual({
      name: 'input/drafted',
      digest: { sha256: draftPatch.slice(7) },
      annotations: { from: 'draft', select: 'patch', applied: true },
    });
    expect(runDetails).toMatchObject({ builder: { id: 'cairn:server' }, metadata: { invocationId: `${runId}/edit/1` }, byproducts: [] });

    // The same statement signed by a KMS key (ECDSA P-256) through SignerV1, as a server on KMS signs it.
    const kms = await KmsTestEndpoint.start();
    try {
      const kmsSigner = createKmsSigner({ keyId: kms.createKey('ECC_NIST_P256').keyId, client: kms.client() });
      const entries: AuditEntry[] = [];
      for await (const entry of composition.service.auditEntries({ runId })) entries.push(entry);
      const made = findPatchAttempt(entries, 'edit');
      const manifest = (await composition.storage.get(manifestKey(made.manifestDigest)))!;
      const statement = patchProvenanceStatement(made, manifest, { id: composition.origin, version: VERSION });
      expect(statement).toEqual(report.statement);
      const kmsBytes = serializeProvenanceBundle(await signProvenance(statement, kmsSigner));
      const kmsKey: PublicKeyRecord = {
        keyId: await kmsSigner.keyId(),
        algorithm: kmsSigner.algorithm,
        publicKey: Buffer.from(await kmsSigner.publicKey()).toString('base64'),
      };
      expect(kmsKey.algorithm).toBe('ecdsa-p256-sha256');
      expect(verifyProvenance(kmsBytes, { trustedKeys: [kmsKey], patch }).valid).toBe(true);
      verifyWithSigstore(kmsBytes, kmsKey, patch);
      expect(verifyProvenance(kmsBytes, { trustedKeys: [key], patch }).checks[1]).toMatchObject({ status: 'fail' });
      expect(() => verifyWithSigstore(kmsBytes, key, patch)).toThrow(/key not found/);
    } finally {
      await kms.stop();
    }

    // Stored by its digest, served again as a blob.
    const answer = await fetch(`${base}/v1/runs/${runId}/items/edit/provenance`, { headers: { authorization: `Bearer ${operatorToken}` } });
    expect(Buffer.from(await answer.arrayBuffer())).toEqual(Buffer.from(bytes));
    expect(Buffer.from(await client.blob(answer.headers.get('x-cairn-digest')!))).toEqual(Buffer.from(bytes));

    // Tampering: the patch, the statement, the signature. Each fails both verifiers, named.
    const bundle = JSON.parse(Buffer.from(bytes).toString('utf8')) as { dsseEnvelope: { payload: string; signatures: { sig: string; keyid: string }[] } };
    const changedPatch = new Uint8Array(Buffer.concat([patch, Buffer.from('+one line more\n')]));
    writeFileSync(join(reader, 'edit.patch'), changedPatch);
    const patchRefused = await runBlock(verifyBlock!, reader, {});
    expect(patchRefused.status).toBe(1);
    expect(patchRefused.output).toMatch(/fail +subject +\$\.subject\[0\]\.digest: the patch hashes to sha256:/);
    expect(() => verifyWithSigstore(bytes, key, changedPatch)).toThrow(/subject mismatch/);

    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8')) as Record<string, unknown>;
    const forged = { ...statement, subject: [{ name: 'edit.patch', digest: { sha256: createHash('sha256').update(changedPatch).digest('hex') } }] };
    const forgedBytes = Buffer.from(
      JSON.stringify({ ...bundle, dsseEnvelope: { ...bundle.dsseEnvelope, payload: Buffer.from(JSON.stringify(forged)).toString('base64') } }),
    );
    expect(verifyProvenance(forgedBytes, { trustedKeys: [key], patch: changedPatch }).checks[1]).toMatchObject({ name: 'signature', status: 'fail' });
    expect(() => verifyWithSigstore(forgedBytes, key, changedPatch)).toThrow(/signature verification failed/);

    const signature = Buffer.from(bundle.dsseEnvelope.signatures[0]!.sig, 'base64');
    signature[0]! ^= 0x80;
    const flipped = Buffer.from(
      JSON.stringify({
        ...bundle,
        dsseEnvelope: { ...bundle.dsseEnvelope, signatures: [{ ...bundle.dsseEnvelope.signatures[0]!, sig: signature.toString('base64') }] },
      }),
    );
    expect(verifyProvenance(flipped, { trustedKeys: [key], patch }).checks[1]).toMatchObject({
      name: 'signature',
      status: 'fail',
      detail: expect.stringContaining('$.dsseEnvelope: No signature of the envelope verifies with the trusted key'),
    });
    expect(() => verifyWithSigstore(flipped, key, patch)).toThrow(/signature verification failed/);

    // Read as a patch is (runs:read), and a 404 for an item the run does not have.
    const auditReader = createCairnClient({ baseUrl: base, token: (await client.createToken('audit only', ['audit:read'])).token });
    await expect(auditReader.provenance(runId, 'edit')).rejects.toMatchObject({ code: 'CAIRN_FORBIDDEN', message: expect.stringContaining('runs:read') });
    const runsReader = createCairnClient({ baseUrl: base, token: (await client.createToken('runs only', ['runs:read'])).token });
    expect(Buffer.from(await runsReader.provenance(runId, 'edit'))).toEqual(Buffer.from(bytes));
    await expect(client.provenance(runId, 'nothing')).rejects.toMatchObject({ code: 'CAIRN_NOT_FOUND' });
  },
);
