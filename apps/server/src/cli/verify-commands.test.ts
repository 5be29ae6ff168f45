// `cairn verify` decides from what the verifier trusts, never from what a bundle says: the keys it
// is given (or its server folder's own key), the anchors it is told to read (its config's, or
// --anchor), and its own table of anchor kinds. A real server (init, a run through its engine, the
// bundle it exports), then forgeries of that bundle, verified by the CLI as a user runs it.
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EvidenceBundleV1, PublicKeyRecord, VerificationReport } from '@cairn/core';
import { bundleLimits, serializeEvidenceBundle } from '@cairn/audit';
import { createLocalSigner } from '@cairn/local';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { composeServer } from '../composition/compose-server.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { forgeServerBundle, writeForgedFileAnchor } from '../capabilities/evidence/forge-bundle.test-support.ts';
import { initServer } from './init-server.ts';
import { runCli } from './run-cli.test-support.ts';

const scratch = mkdtempSync(join(tmpdir(), 'cairn-verify-'));
chmodSync(scratch, 0o711);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const cairn = (args: string[], cwd: string) => runCli(args, { cwd });

const report = (result: { stdout: string }) => JSON.parse(result.stdout) as VerificationReport;
const anchorCheck = (result: { stdout: string }) => report(result).checks.find((check) => check.name === 'anchor')!;

interface Server {
  readonly directory: string;
  /** A folder that is not a server's: nothing there is trusted. */
  readonly elsewhere: string;
  readonly keyId: string;
  readonly key: PublicKeyRecord;
  readonly signingKeyFile: string;
  readonly anchorDirectory: string;
  readonly bundle: EvidenceBundleV1;
  readonly bundleFile: string;
}
let server: Server;

beforeAll(async () => {
  const directory = join(scratch, 'server');
  const init = await initServer(directory);
  const loaded = loadServerConfig({ directory, env: { CAIRN_SANDBOX: 'none' } });
  const composition = await composeServer(loaded);
  let bundle: EvidenceBundleV1;
  try {
    composition.engine.start();
    const { runId } = composition.engine.submit(
      { version: 1, name: 'hello', items: [{ id: 'hello', runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo hello > hello.txt'] } }] },
      { actor: { kind: 'user', id: 'ana', via: 'cli' } },
    );
    expect((await composition.engine.waitForRun(runId)).state).toBe('succeeded');
    bundle = await composition.engine.exportBundle(runId);
  } finally {
    await composition.close();
  }
  expect(bundle.anchors).toHaveLength(1);
  const bundleFile = join(scratch, 'genuine.bundle.json');
  writeFileSync(bundleFile, serializeEvidenceBundle(bundle));
  server = {
    directory,
    elsewhere: scratch,
    keyId: init.keyId,
    key: bundle.keys[0]!,
    signingKeyFile: loaded.paths.signingKey,
    anchorDirectory: loaded.paths.anchors[0]!,
    bundle,
    bundleFile,
  };
}, 60_000);

function write(name: string, bundle: EvidenceBundleV1): string {
  const file = join(scratch, `${name.replaceAll(/[^a-z]+/g, '-')}.bundle.json`);
  writeFileSync(file, serializeEvidenceBundle(bundle));
  return file;
}

describe('finding 1: a file anchor never raises the claim, whatever a receipt declares', () => {
  test(
    'the real key re-signs a rewritten history and a receipt declaring external-immutable for a copied file anchor: never tamper-evident',
    { timeout: 60_000 },
    async () => {
      const realSigner = createLocalSigner({ keyFile: server.signingKeyFile });
      const copy = join(scratch, 'copied-anchor');
      cpSync(server.anchorDirectory, copy, { recursive: true });
      // The copy's folder for this log is rewritten by the forger (the local anchor's own layout).
      rmSync(join(copy, 'cairn%3Aserver'), { recursive: true });
      const { bundle } = await forgeServerBundle(server.bundle, server.key, {
        signer: realSigner,
        record: server.key,
        rewriteHistory: true,
        receipts: (base, envelope) =>
          writeForgedFileAnchor(copy, envelope, (location) => ({ ...base, anchor: 'file', guarantee: 'external-immutable', location })),
      });
      const file = write('rewritten immutable receipt', bundle);

      // As the battery ran it, outside any server folder: the receipt's anchor is not trusted, and
      // --online with no anchor to trust is refused (exit 2), never a tamper-evident pass.
      const asRun = await cairn(['--json', 'verify', file, '--trusted-key', server.keyId, '--online'], server.elsewhere);
      expect(asRun.status, asRun.stdout).toBe(2);
      expect(asRun.stdout).not.toContain('tamper-evident');
      expect(asRun.stderr).toContain('--online needs an anchor to trust');

      // Told to trust the copied folder itself: it holds the rewrite, but a file anchor is `detect`.
      const copied = await cairn(['--json', 'verify', file, '--trusted-key', server.keyId, '--online', '--anchor', `file:${copy}`], server.elsewhere);
      expect(copied.status, copied.stderr).toBe(0);
      expect(report(copied)).toMatchObject({ valid: true, verdict: 'verified', claim: 'tamper-detecting' });
      expect(anchorCheck(copied).detail).toMatch(/^read live: file:\S+ \(detect\) holds it/);

      // In the server's folder, its own anchor holds the genuine checkpoint at that size: caught.
      const inServer = await cairn(['--json', 'verify', file, '--online'], server.directory);
      expect(inServer.status).toBe(1);
      expect(report(inServer)).toMatchObject({ valid: false, verdict: 'failed', claim: 'tamper-detecting' });
      expect(anchorCheck(inServer)).toMatchObject({ status: 'fail', detail: expect.stringContaining(`file:${server.anchorDirectory} holds no checkpoint`) });
    },
  );

  test('an anchor kind the verifier does not know is refused, not trusted', async () => {
    const result = await cairn(
      ['verify', server.bundleFile, '--trusted-key', server.keyId, '--online', '--anchor', 'gcs-retention:gs://bucket/anchor'],
      server.elsewhere,
    );
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/cannot read \('gcs-retention'; it reads: file, s3-object-lock\)/);
  });
});

describe('finding 2: --online finds the checkpoint in the trusted anchors, whatever receipts the bundle carries', () => {
  test('a rewritten bundle with its receipts stripped fails against the configured anchor, naming it and what was missing', { timeout: 60_000 }, async () => {
    const realSigner = createLocalSigner({ keyFile: server.signingKeyFile });
    const { bundle } = await forgeServerBundle(server.bundle, server.key, { signer: realSigner, record: server.key, rewriteHistory: true, receipts: 'strip' });
    const file = write('rewritten stripped', bundle);
    const [inServer, named] = await Promise.all([
      cairn(['--json', 'verify', file, '--online'], server.directory),
      cairn(['--json', 'verify', file, '--trusted-key', server.keyId, '--online', '--anchor', `file:${server.anchorDirectory}`], server.elsewhere),
    ]);
    for (const result of [inServer, named]) {
      expect(result.status, result.stderr).toBe(1);
      expect(anchorCheck(result)).toMatchObject({
        status: 'fail',
        detail: expect.stringMatching(
          new RegExp(`^file:${server.anchorDirectory} holds no checkpoint of cairn:server at tree size \\d+ with root [0-9a-f]{64}`),
        ),
      });
    }
  });

  test('the genuine bundle with its receipts stripped still verifies online: the trusted anchor holds its checkpoint', { timeout: 60_000 }, async () => {
    const file = write('genuine stripped', { ...server.bundle, anchors: [] });
    const result = await cairn(['--json', 'verify', file, '--online'], server.directory);
    expect(result.status, result.stderr).toBe(0);
    expect(anchorCheck(result)).toMatchObject({ status: 'pass', detail: expect.stringContaining(`file:${server.anchorDirectory} (detect) holds it`) });
  });
});

describe('finding 3: without a key the verifier trusts, nothing is verified', () => {
  test(
    'six forgeries signed with a fresh key: exit 4 (untrusted-signer) without a trusted key, exit 1 with the real key or in the server folder',
    { timeout: 120_000 },
    async () => {
      const fresh = createLocalSigner({ keyFile: join(scratch, 'fresh.pem'), create: true });
      const record: PublicKeyRecord = {
        keyId: await fresh.keyId(),
        algorithm: fresh.algorithm,
        publicKey: Buffer.from(await fresh.publicKey()).toString('base64'),
      };
      const base = { signer: fresh, record };
      const resigned = (receipt: Parameters<Exclude<Parameters<typeof forgeServerBundle>[2]['receipts'], 'strip'>>[0]) => receipt;
      const forgeries = {
        'checkpoint re-signed': await forgeServerBundle(server.bundle, server.key, { ...base, keepKeys: true, receipts: resigned }),
        'manifests re-signed': await forgeServerBundle(server.bundle, server.key, { ...base, resignManifests: true, receipts: resigned }),
        'history rewritten and root recomputed': await forgeServerBundle(server.bundle, server.key, {
          ...base,
          resignManifests: true,
          rewriteHistory: true,
          receipts: resigned,
        }),
        'receipt re-signed': await forgeServerBundle(server.bundle, server.key, {
          ...base,
          resignManifests: true,
          receipts: (receipt) => ({ ...receipt, guarantee: 'external-immutable' }),
        }),
        'receipts stripped': await forgeServerBundle(server.bundle, server.key, { ...base, resignManifests: true, receipts: 'strip' }),
        'rewritten and stripped': await forgeServerBundle(server.bundle, server.key, {
          ...base,
          resignManifests: true,
          rewriteHistory: true,
          receipts: 'strip',
        }),
      };
      for (const [name, { bundle }] of Object.entries(forgeries)) {
        const file = write(name, bundle);
        const [untrusted, withKey, inServer] = await Promise.all([
          cairn(['--json', 'verify', file], server.elsewhere),
          cairn(['--json', 'verify', file, '--trusted-key', server.keyId], server.elsewhere),
          cairn(['--json', 'verify', file], server.directory),
        ]);
        expect([name, untrusted.status, report(untrusted).valid, report(untrusted).verdict]).toEqual([name, 4, false, 'untrusted-signer']);
        expect([name, report(untrusted).checks.filter((check) => check.status === 'fail')]).toEqual([name, []]);
        expect([name, withKey.status, report(withKey).verdict]).toEqual([name, 1, 'failed']);
        expect([name, inServer.status, report(inServer).verdict]).toEqual([name, 1, 'failed']);
      }
      const text = await cairn(['verify', write('receipts stripped', forgeries['receipts stripped'].bundle)], server.elsewhere);
      expect(text.status).toBe(4);
      expect(text.stdout).toMatch(/^valid: false, claim: tamper-detecting, verdict: untrusted-signer$/m);
      expect(text.stdout).toContain('NOT VERIFIED');
    },
  );

  test(
    "the genuine bundle: untrusted-signer without a key; verified with --trusted-key, --trusted-key-file or in the server's folder",
    { timeout: 60_000 },
    async () => {
      const publicKeyFile = join(scratch, 'server.pub.json');
      writeFileSync(publicKeyFile, JSON.stringify(server.key));
      const [none, byId, byPem, byRecord, inServer] = await Promise.all([
        cairn(['--json', 'verify', server.bundleFile], server.elsewhere),
        cairn(['--json', 'verify', server.bundleFile, '--trusted-key', server.keyId], server.elsewhere),
        cairn(['--json', 'verify', server.bundleFile, '--trusted-key-file', server.signingKeyFile], server.elsewhere),
        cairn(['--json', 'verify', server.bundleFile, '--trusted-key-file', publicKeyFile], server.elsewhere),
        cairn(['--json', 'verify', server.bundleFile], server.directory),
      ]);
      expect([none.status, report(none).verdict]).toEqual([4, 'untrusted-signer']);
      for (const result of [byId, byPem, byRecord, inServer]) expect([result.status, report(result).verdict, result.stderr]).toEqual([0, 'verified', '']);
      const notAKey = join(scratch, 'not-a-key.txt');
      writeFileSync(notAKey, readFileSync(server.bundleFile, 'utf8').slice(0, 10));
      const refused = await cairn(['verify', server.bundleFile, '--trusted-key-file', notAKey], server.elsewhere);
      expect(refused.status).toBe(2);
      expect(refused.stderr).toContain(`--trusted-key-file ${notAKey}`);
    },
  );
});

describe('finding 5: the verifier reads hostile input within bounds', () => {
  const refused = (result: { status: number | null; stderr: string }) => {
    expect(result.status, result.stderr).toBe(2);
    return result.stderr;
  };

  test(
    'what is not a regular file is refused at once, naming the path and what it is: /dev/zero, a FIFO with no writer (evidence and provenance bundles)',
    { timeout: 60_000 },
    async () => {
      const fifo = join(scratch, 'bundle.fifo');
      execFileSync('mkfifo', [fifo]);
      const [zero, pipe, provenanceZero, provenancePipe] = await Promise.all([
        cairn(['verify', '/dev/zero', '--trusted-key', server.keyId], server.elsewhere),
        cairn(['verify', fifo, '--trusted-key', server.keyId], server.elsewhere),
        cairn(['verify', 'provenance', '/dev/zero'], server.elsewhere),
        cairn(['verify', 'provenance', fifo], server.elsewhere),
      ]);
      expect(refused(zero)).toContain('CAIRN_PAYLOAD_INVALID: Cannot read the evidence bundle /dev/zero: it is a character device, not a regular file.');
      expect(refused(pipe)).toContain(`CAIRN_PAYLOAD_INVALID: Cannot read the evidence bundle ${fifo}: it is a FIFO (named pipe), not a regular file.`);
      expect(refused(provenanceZero)).toContain(
        'CAIRN_PAYLOAD_INVALID: Cannot read the provenance bundle /dev/zero: it is a character device, not a regular file.',
      );
      expect(refused(provenancePipe)).toContain(
        `Cannot read the provenance bundle ${fifo}: it is a FIFO (named pipe), not a regular file. Pass a bundle file (\`cairn provenance RUN ITEM\` writes one)`,
      );
    },
  );

  test('a bundle over --max-bundle-bytes is refused before it is read, naming the option; at its size it verifies', { timeout: 60_000 }, async () => {
    const size = statSync(server.bundleFile).size;
    const [over, atSize, json] = await Promise.all([
      cairn(['verify', server.bundleFile, '--trusted-key', server.keyId, '--max-bundle-bytes', String(size - 1)], server.elsewhere),
      cairn(['verify', server.bundleFile, '--trusted-key', server.keyId, '--max-bundle-bytes', String(size)], server.elsewhere),
      cairn(['--json', 'verify', server.bundleFile, '--trusted-key', server.keyId, '--max-bundle-bytes', '1000'], server.elsewhere),
    ]);
    expect(refused(over)).toContain(`it is ${size} bytes, more than ${size - 1}, the most a verifier reads (--max-bundle-bytes)`);
    expect(atSize.status, atSize.stderr).toBe(0);
    expect(JSON.parse(refused(json))).toMatchObject({
      code: 'CAIRN_PAYLOAD_INVALID',
      path: server.bundleFile,
      details: { limit: 'maxBundleBytes', bytes: size, maxBundleBytes: 1000 },
    });
  });

  test('a bundle over a limit of what parsing builds is refused naming the limit and the JSON path', async () => {
    const keys = Array.from({ length: bundleLimits.maxKeysPerObject + 1 }, (_, index) => `"k${index}":0`).join(',');
    const file = join(scratch, 'wide.bundle.json');
    writeFileSync(file, `{"entries":[{${keys}}],"format":"cairn.bundle/v1"}`);
    expect(refused(await cairn(['verify', file, '--trusted-key', server.keyId], server.elsewhere))).toContain(
      `the bundle exceeds what a verifier reads: the object at $.entries[0] has more than ${bundleLimits.maxKeysPerObject} keys (limit maxKeysPerObject)`,
    );
  });

  test('--max-bundle-bytes says the library default and refuses what is not a whole number of bytes', async () => {
    const [help, bad] = await Promise.all([
      cairn(['verify', '--help'], server.elsewhere),
      cairn(['verify', server.bundleFile, '--max-bundle-bytes', '1.5'], server.elsewhere),
    ]);
    expect(help.stdout.replaceAll(/\s+/g, ' ')).toContain(`(default ${bundleLimits.maxBundleBytes} (${bundleLimits.maxBundleBytes / 1024 / 1024} MiB)`);
    expect(refused(bad)).toContain('must be a whole number of bytes');
  });
});
