// `cairn audit bundle --artifacts` and `cairn verify --artifacts` as a user runs them: a real
// server's run fetched into a folder and its contents checked; and a run whose attempt kept an
// egress record (ADR 0049), its record read, counted, and refused when edited or malformed.
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEntry, EvidenceBundleV1, VerificationReport } from '@cairn/core';
import { serializeEvidenceBundle } from '@cairn/audit';
import { createCairnClient } from '@cairn/client';
import { canonicalJson, sha256Digest } from '@cairn/protocol';
import { afterAll, describe, expect, test } from 'vitest';
import { forgeBundle } from '../../../../packages/audit/src/bundle/forge-bundle.test-support.ts';
import { createRunEvidence } from '../../../../packages/audit/src/bundle/run-evidence.test-support.ts';
import { egressRecordsToNdjson, type EgressRecord } from '../../../../packages/worker/src/egress/egress-record.ts';
import { artifactFile, fillArtifactFolder } from '../capabilities/evidence/artifact-folder.ts';
import { runningServers } from '../http/running-server.test-support.ts';
import { runCli } from './run-cli.test-support.ts';

const scratch = mkdtempSync(join(tmpdir(), 'cairn-verify-artifacts-'));
chmodSync(scratch, 0o711);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const cairn = (args: string[], env: Record<string, string> = {}) => runCli(args, { cwd: scratch, env });
const report = (result: { stdout: string }) => JSON.parse(result.stdout) as VerificationReport;
const artifactsCheck = (result: { stdout: string }) => report(result).checks.find((check) => check.name === 'artifacts')!;
const mode = (path: string) => statSync(path).mode & 0o777;

const start = runningServers();

describe('cairn audit bundle --artifacts, then cairn verify --artifacts', () => {
  test(
    "fetches every artifact a real run's bundle lists (0700 folder, 0600 files), keeps those already there, and verify checks their contents",
    { timeout: 90_000 },
    async () => {
      const { base: server, operatorToken, keyId, composition } = await start();
      const client = createCairnClient({ baseUrl: server, token: operatorToken });
      const { runId } = await client.submit({
        version: 1,
        name: 'hello',
        items: [{ id: 'hello', runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo hello > hello.txt; echo said hello'] } }],
      });
      expect((await composition.engine.waitForRun(runId)).state).toBe('succeeded');
      const env = { CAIRN_TOKEN: operatorToken };
      const bundleFile = join(scratch, 'hello.bundle.json');
      const folder = join(scratch, 'hello-artifacts');

      const first = await cairn(['audit', 'bundle', runId, '--out', bundleFile, '--artifacts', folder, '--server', server], env);
      expect(first.status, first.stderr).toBe(0);
      const bundle = JSON.parse(readFileSync(bundleFile, 'utf8')) as EvidenceBundleV1;
      const digests = [...new Set(bundle.artifacts.map((artifact) => artifact.digest))];
      expect(bundle.artifacts.map((artifact) => artifact.kind).sort()).toEqual(['patch', 'stderr', 'stdout']);
      expect(first.stdout).toContain(
        `; ${digests.length} artifacts fetched into ${folder}, 0 already there (check them with cairn verify ${bundleFile} --artifacts ${folder})`,
      );
      expect(mode(folder)).toBe(0o700);
      for (const digest of digests) {
        const file = artifactFile(folder, digest)!;
        expect([digest, mode(file), sha256Digest(readFileSync(file))]).toEqual([digest, 0o600, digest]);
      }

      // Again: nothing fetched. With one file spoiled, that one alone is fetched again.
      const stdout = bundle.artifacts.find((artifact) => artifact.kind === 'stdout')!.digest;
      writeFileSync(artifactFile(folder, stdout)!, 'said goodbye\n');
      const again = await cairn(['--json', 'audit', 'bundle', runId, '--out', bundleFile, '--artifacts', folder, '--server', server], env);
      expect(again.status, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ out: bundleFile, runId, artifacts: { folder, fetched: 1, present: digests.length - 1 } });
      expect(readFileSync(artifactFile(folder, stdout)!, 'utf8')).toBe('said hello\n');

      const [checked, digestsOnly] = await Promise.all([
        cairn(['--json', 'verify', bundleFile, '--trusted-key', keyId, '--artifacts', folder]),
        cairn(['--json', 'verify', bundleFile, '--trusted-key', keyId]),
      ]);
      expect(checked.status, checked.stdout).toBe(0);
      expect(artifactsCheck(checked)).toMatchObject({ status: 'pass', detail: expect.stringContaining('3 artifacts (0 model call bodies)') });
      expect(artifactsCheck(checked).detail).toContain('fetched with matching content');
      expect(report(checked).egress).toEqual([]);
      expect(digestsOnly.status, digestsOnly.stdout).toBe(0);
      expect(artifactsCheck(digestsOnly).detail).toContain('3 artifact digests (0 model call bodies)');
      expect(artifactsCheck(digestsOnly).detail).toContain('(contents not fetched)');
      expect(report(digestsOnly).egress).toBeUndefined();

      // A missing artifact fails the check naming it; a folder that is not there is bad input.
      rmSync(artifactFile(folder, stdout)!);
      const position = bundle.artifacts.findIndex((artifact) => artifact.digest === stdout);
      const [missing, noFolder] = await Promise.all([
        cairn(['--json', 'verify', bundleFile, '--trusted-key', keyId, '--artifacts', folder]),
        cairn(['verify', bundleFile, '--trusted-key', keyId, '--artifacts', join(scratch, 'nowhere')]),
      ]);
      expect(missing.status).toBe(1);
      expect(artifactsCheck(missing)).toEqual({ name: 'artifacts', status: 'fail', detail: `$.artifacts[${position}]: ${stdout} could not be fetched` });
      expect(noFolder.status).toBe(2);
      expect(noFolder.stderr).toContain(
        `CAIRN_PAYLOAD_INVALID: Cannot read the artifacts folder ${join(scratch, 'nowhere')} (--artifacts): there is no such folder.`,
      );

      // Without --out the bundle is stdout, and what was fetched is said on stderr.
      const piped = await cairn(['audit', 'bundle', runId, '--artifacts', folder, '--server', server], env);
      expect(piped.status, piped.stderr).toBe(0);
      expect(JSON.parse(piped.stdout)).toEqual(bundle);
      expect(piped.stderr.trimEnd().split('\n').at(-1)).toBe(
        `1 artifact fetched into ${folder}, ${digests.length - 1} already there (check them with cairn verify BUNDLE --artifacts ${folder})`,
      );
    },
  );
});

// As the worker writes it (its own NDJSON writer): three connections allowed, two refused.
const connection = (fields: Partial<EgressRecord>): EgressRecord => ({
  host: 'registry.npmjs.org',
  port: 443,
  kind: 'connect',
  address: '104.16.0.34',
  decision: 'allowed',
  rule: 'registry.npmjs.org',
  reason: null,
  message: null,
  wouldAdmit: null,
  bytesIn: 5120,
  bytesOut: 730,
  credential: null,
  startedAt: '2026-11-22T10:00:01.000Z',
  endedAt: '2026-11-22T10:00:02.500Z',
  ...fields,
});
const connections: EgressRecord[] = [
  connection({}),
  connection({ host: 'api.github.com', rule: 'api.github.com', credential: 'GITHUB_TOKEN' }),
  connection({ host: 'deb.debian.org', port: 80, kind: 'http', rule: 'deb.debian.org' }),
  connection({ host: 'example.com', address: null, decision: 'refused', rule: null, reason: 'not-allowed', message: 'not allowed', wouldAdmit: 'example.com' }),
  connection({ host: 'metadata.internal', address: null, decision: 'refused', rule: null, reason: 'address-forbidden', message: 'link-local' }),
];

/** A run whose `edit` attempt's `attempt.completed` entry names `record` as its egress artifact, signed by the run's key, and its folder of artifacts. */
async function egressRun(name: string, record: Uint8Array) {
  const evidence = await createRunEvidence();
  const digest = sha256Digest(record);
  const bundle = await forgeBundle(evidence.bundle, [evidence.signer.record], {
    signer: evidence.signer.signer,
    record: evidence.signer.record,
    receipts: 'strip',
    editEntries: (entries: AuditEntry[]) =>
      entries.map((entry) =>
        entry.action === 'attempt.completed'
          ? { ...entry, data: { ...entry.data, artifacts: { ...(entry.data['artifacts'] as Record<string, string>), egress: digest } } }
          : entry,
      ),
  });
  const bundleFile = join(scratch, `${name}.bundle.json`);
  writeFileSync(bundleFile, serializeEvidenceBundle(bundle));
  const keyFile = join(scratch, `${name}.key.json`);
  writeFileSync(keyFile, JSON.stringify(evidence.signer.record));
  const folder = join(scratch, `${name}-artifacts`);
  const blobs = new Map([...evidence.blobs, [digest, record]]);
  await fillArtifactFolder(
    folder,
    bundle.artifacts.map((artifact) => artifact.digest),
    async (wanted) => blobs.get(wanted)!,
  );
  const position = bundle.artifacts.findIndex((artifact) => artifact.kind === 'egress');
  return { bundleFile, keyFile, folder, digest, position };
}

describe('cairn verify reports the egress record', () => {
  test('with --artifacts: verified, one line per attempt with its connections allowed and refused by reason; without: not counted, said so', async () => {
    const run = await egressRun('egress', new TextEncoder().encode(egressRecordsToNdjson(connections)));
    const [text, json, plain] = await Promise.all([
      cairn(['verify', run.bundleFile, '--trusted-key-file', run.keyFile, '--artifacts', run.folder]),
      cairn(['--json', 'verify', run.bundleFile, '--trusted-key-file', run.keyFile, '--artifacts', run.folder]),
      cairn(['verify', run.bundleFile, '--trusted-key-file', run.keyFile]),
    ]);
    expect(text.status, text.stdout + text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^valid: true, claim: tamper-detecting, verdict: verified$/m);
    expect(text.stdout).toContain(`\n  egress edit#1: 3 allowed, 2 refused (not-allowed 1, address-forbidden 1) — ${run.digest}\n`);
    expect(text.stdout).toMatch(
      / {2}pass {8}artifacts {12}4 artifacts \(0 model call bodies\).*; 1 egress record read: edit#1: 3 allowed, 2 refused \(not-allowed 1, address-forbidden 1\); /,
    );
    expect(json.status).toBe(0);
    expect(report(json).egress).toEqual([
      { itemId: 'edit', attempt: 1, digest: run.digest, allowed: 3, refused: 2, cut: 0, refusedBy: { 'not-allowed': 1, 'address-forbidden': 1 }, cutBy: {} },
    ]);
    expect(plain.status, plain.stdout + plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/ {2}pass {8}artifacts {12}4 artifact digests .*\(contents not fetched\); 1 egress record listed, its contents not checked; /);
    expect(plain.stdout).not.toContain('egress edit#1');
  });

  test('one byte of the egress file edited in the folder: verification fails, naming the artifact and both digests', async () => {
    const run = await egressRun('edited', new TextEncoder().encode(egressRecordsToNdjson(connections)));
    const file = artifactFile(run.folder, run.digest)!;
    const bytes = readFileSync(file);
    // The first refusal's decision edited ("refused" to "refusee"): one byte, same length.
    const at = bytes.indexOf('"refused"');
    bytes[at + 7] = 'e'.charCodeAt(0);
    writeFileSync(file, bytes);
    const [text, json] = await Promise.all([
      cairn(['verify', run.bundleFile, '--trusted-key-file', run.keyFile, '--artifacts', run.folder]),
      cairn(['--json', 'verify', run.bundleFile, '--trusted-key-file', run.keyFile, '--artifacts', run.folder]),
    ]);
    expect(text.status).toBe(1);
    expect(text.stdout).toContain(
      `fail        artifacts            $.artifacts[${run.position}]: the fetched content hashes to ${sha256Digest(bytes)}, not ${run.digest}`,
    );
    expect(text.stdout).not.toContain('egress edit#1');
    expect(report(json)).toMatchObject({ valid: false, verdict: 'failed' });
    expect(report(json).egress).toBeUndefined();
  });

  test('a malformed record, hashed and logged as it is from the start: verification fails naming the artifact and the line', async () => {
    const lines = egressRecordsToNdjson(connections).split('\n');
    lines[2] = canonicalJson({ ...connections[2]!, bytesOut: -1 });
    const run = await egressRun('malformed', new TextEncoder().encode(lines.join('\n')));
    const [checked, digestsOnly] = await Promise.all([
      cairn(['verify', run.bundleFile, '--trusted-key-file', run.keyFile, '--artifacts', run.folder]),
      cairn(['verify', run.bundleFile, '--trusted-key-file', run.keyFile]),
    ]);
    expect(checked.status).toBe(1);
    expect(checked.stdout).toContain(
      `fail        artifacts            $.artifacts[${run.position}]: the egress record of edit#1 (${run.digest}), line 3: bytesOut: is -1, not a whole number 0..9007199254740991`,
    );
    // Its digest is the one the log names: without the contents nothing is wrong to see.
    expect(digestsOnly.status, digestsOnly.stdout).toBe(0);
    expect(digestsOnly.stdout).toContain('1 egress record listed, its contents not checked');
  });
});
