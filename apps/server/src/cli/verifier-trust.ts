import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { PublicKeyRecord } from '@cairn/core';
import type { TrustedAnchor } from '@cairn/audit';
import { CairnError } from '@cairn/protocol/errors';
import { configFileNames } from '../config/config-file-names.ts';
import type { LoadedServerConfig } from '../config/load-server-config.ts';
import { serverAnchors, serverSigningKey, serverTsaCertificates } from '../capabilities/evidence/server-trust.ts';
import { readTsaCertificate } from '../capabilities/evidence/tsa-certificate-file.ts';
import { trustedKeyFromFile } from '../capabilities/evidence/trusted-key-file.ts';
import { trustedAnchorOf } from '../capabilities/evidence/verifier-anchors.ts';
import { configOption, readInputFile } from './cli-program.ts';
import { loadServerConfigLazily } from './lazy-server-config.ts';

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
  const server = await serverConfigHere();
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
async function serverConfigHere(): Promise<LoadedServerConfig | undefined> {
  const named = configOption();
  if (named.file !== undefined) return loadServerConfigLazily(named);
  return configFileNames.some((name) => existsSync(join(process.cwd(), name))) ? loadServerConfigLazily({ directory: process.cwd() }) : undefined;
}
