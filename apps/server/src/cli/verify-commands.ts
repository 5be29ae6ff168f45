import { InvalidArgumentError } from 'commander';
import { formatVerificationReport } from '../capabilities/evidence/format-verification-report.ts';
import { json, program, say } from './cli-program.ts';
import type { VerifierOptions } from './verifier-trust.ts';

// bundleLimits.maxBundleBytes, said here without loading @cairn/audit at every start (a test keeps them equal).
const defaultMaxBundleBytes = '536870912 (512 MiB)';

/** `cairn verify`: an evidence bundle checked offline (or with trusted anchors read live). */
export function addVerifyCommands(): void {
  program
    .command('verify')
    .argument('<bundle>', 'an evidence bundle (cairn.bundle/v1) file')
    .option('--trusted-key <keyId...>', 'key ids the checkpoint may be signed by (sha256:...)')
    .option('--trusted-key-file <file...>', 'public keys the checkpoint may be signed by: PEM, or a JSON {keyId, algorithm, publicKey} record')
    .option(
      '--trusted-tsa-cert <file...>',
      "TSA certificates (PEM) an RFC 3161 timestamp in the bundle may be signed by; with one that verifies the claim is witnessed (a server folder's rfc3161 anchors' certificates are trusted too)",
    )
    .option('--online', "also read the trusted anchors live (the server config's, or --anchor's) for this checkpoint")
    .option(
      '--anchor <kind:location...>',
      "with --online, read these anchors instead of the config's (file:<directory>, s3-object-lock:s3://<bucket>/<prefix>[?endpoint=<url>&region=<region>&forcePathStyle=true])",
    )
    .option(
      '--artifacts <folder>',
      "also check the artifacts' contents, read from this folder (one file per artifact, named by its digest's hex: cairn audit bundle --artifacts fills it), and count each egress record",
    )
    .option(
      '--max-bundle-bytes <bytes>',
      `refuse a bundle file larger than this, before reading it (default ${defaultMaxBundleBytes}, above any bundle Cairn writes)`,
      bundleBytes,
    )
    .description(
      "verify an evidence bundle (offline unless --online) against keys you trust: --trusted-key, --trusted-key-file, or the server's own key when run in its folder. Exit 0 verified, 1 a check failed, 4 nothing failed but no trusted key was given (not verified)",
    )
    .action(async (file: string, options: VerifierOptions & { maxBundleBytes?: number; artifacts?: string }) => {
      const [{ verifierTrust }, { readEvidenceFile, verificationExitCode, verifyEvidence }, { artifactFolderReader }] = await Promise.all([
        import('./verifier-trust.ts'),
        import('../capabilities/evidence/verify-evidence.ts'),
        import('../capabilities/evidence/artifact-folder.ts'),
      ]);
      const limits = options.maxBundleBytes === undefined ? {} : { maxBundleBytes: options.maxBundleBytes };
      const bytes = readEvidenceFile(file, limits);
      const readArtifact = options.artifacts === undefined ? undefined : artifactFolderReader(options.artifacts);
      const trust = await verifierTrust(options);
      const report = await verifyEvidence(bytes, {
        limits,
        trustedKeys: trust.keys,
        trustedKeyIds: trust.keyIds,
        anchors: trust.anchors,
        trustedTsaCertificates: trust.tsaCertificates,
        ...(readArtifact === undefined ? {} : { readArtifact }),
      });
      if (json()) say(JSON.stringify(report));
      else for (const line of formatVerificationReport(report)) say(line);
      process.exitCode = verificationExitCode(report);
    });
}

function bundleBytes(value: string): number {
  const bytes = Number(value);
  if (!Number.isSafeInteger(bytes) || bytes < 1)
    throw new InvalidArgumentError(`must be a whole number of bytes, more than 0 (default ${defaultMaxBundleBytes}).`);
  return bytes;
}
