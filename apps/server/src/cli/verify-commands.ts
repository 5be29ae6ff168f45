import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { PublicKeyRecord } from '@cairn/core';
import type { TrustedAnchor } from '@cairn/audit';
import { CairnError } from '@cairn/protocol';
import { configFileNames, loadServerConfig, type LoadedServerConfig } from '../config/load-server-config.ts';
import { formatVerificationReport } from '../evidence/format-verification-report.ts';
import { serverAnchors, serverSigningKey, serverTsaCertificates } from '../evidence/server-trust.ts';
import { readTsaCertificate } from '../evidence/tsa-certificate-file.ts';
import { trustedKeyFromFile } from '../evidence/trusted-key-file.ts';
import { trustedAnchorOf } from '../evidence/verifier-anchors.ts';
import { verificationExitCode, verifyEvidence } from '../evidence/verify-evidence.ts';
import { configOption, json, program, readInputFile, say } from './cli-program.ts';

/** What the verifier was told to trust, from its options and the server folder it runs in. */
export interface VerifierOptions {
  readonly trustedKey?: string[];
  readonly trustedKeyFile?: string[];
  readonly anchor?: string[];
  readonly online?: boolean;
  readonly trustedTsaCert?: string[];
}

/**
 * The keys and anchors a verifier command trusts. Keys: `--trusted-key` ids, `--trusted-key-file`
 * keys, and, in a server's folder (or with `--config`), the server's own signing key. Anchors
 * (`--online` only): the `--anchor` ones if any, otherwise the server config's; `--online` with
 * none is bad input, since the anchors a bundle's receipts name are not trusted. TSA
 * certificates: `--trusted-tsa-cert` files, and the server config's `rfc3161` anchors' ones.
 */
export async function verifierTrust(
  options: VerifierOptions,
): Promise<{ keys: PublicKeyRecord[]; keyIds: string[]; anchors: TrustedAnchor[]; tsaCertificates: string[] }> {
  const server = serverConfigHere();
  const named = (options.trustedKeyFile ?? []).map((file) => trustedKeyFromFile(readInputFile(file, 'the trusted key file').toString('utf8'), file));
  const keyIds = options.trustedKey ?? [];
  let serverKey: PublicKeyRecord | undefined;
  try {
    serverKey = server && (await serverSigningKey(server));
  } catch (error) {
    // A verifier who named its keys does not need the folder's (e.g. a user who cannot read it).
    if (named.length === 0 && keyIds.length === 0) throw error;
  }
  const keys = [...named, ...(serverKey ? [serverKey] : [])];
  const namedTsaCertificates = (options.trustedTsaCert ?? []).map((file) => readTsaCertificate(file, '--trusted-tsa-cert'));
  let serverTsa: string[] = [];
  try {
    serverTsa = server ? serverTsaCertificates(server) : [];
  } catch (error) {
    // As with keys: a verifier who named its TSA certificates does not need the folder's.
    if (namedTsaCertificates.length === 0) throw error;
  }
  const tsaCertificates = [...namedTsaCertificates, ...serverTsa];
  let anchors: TrustedAnchor[] = [];
  if (options.online) {
    anchors =
      options.anchor && options.anchor.length > 0
        ? options.anchor.map((specification) => trustedAnchorOf(specification, '--anchor'))
        : server
          ? serverAnchors(server)
          : [];
    if (anchors.length === 0) {
      throw new CairnError(
        'CAIRN_PAYLOAD_INVALID',
        "--online needs an anchor to trust: run in the server's folder (its cairn.config names its anchors), pass --config <file>, or name one with --anchor file:<directory>. The anchors a bundle's own receipts name are not trusted.",
        { path: '--online' },
      );
    }
  } else if (options.anchor && options.anchor.length > 0) {
    throw new CairnError('CAIRN_PAYLOAD_INVALID', '--anchor is read only with --online; add --online, or leave --anchor out to verify offline.', {
      path: '--anchor',
    });
  }
  return { keys, keyIds, anchors, tsaCertificates };
}

/** The config of the server folder this runs in (or `--config`), when there is one. */
function serverConfigHere(): LoadedServerConfig | undefined {
  const named = configOption();
  if (named.file !== undefined) return loadServerConfig(named);
  return configFileNames.some((name) => existsSync(join(process.cwd(), name))) ? loadServerConfig({ directory: process.cwd() }) : undefined;
}

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
    .description(
      "verify an evidence bundle (offline unless --online) against keys you trust: --trusted-key, --trusted-key-file, or the server's own key when run in its folder. Exit 0 verified, 1 a check failed, 4 nothing failed but no trusted key was given (not verified)",
    )
    .action(async (file: string, options: VerifierOptions) => {
      const bytes = new Uint8Array(readInputFile(file, 'the evidence bundle'));
      const trust = await verifierTrust(options);
      const report = await verifyEvidence(bytes, {
        trustedKeys: trust.keys,
        trustedKeyIds: trust.keyIds,
        anchors: trust.anchors,
        trustedTsaCertificates: trust.tsaCertificates,
      });
      if (json()) say(JSON.stringify(report));
      else for (const line of formatVerificationReport(report)) say(line);
      process.exitCode = verificationExitCode(report);
    });
}
