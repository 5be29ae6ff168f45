import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createLocalCipher, createLocalSigner } from '@cairn/local';
import { CairnError } from '@cairn/protocol/errors';
import { FileTokenStore } from '../capabilities/access/file-token-store.ts';
import { configFileNames } from '../config/config-file-names.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { sandboxesOnThisMachine, sandboxReachRefusal, workRootOption } from './sandbox-reach.ts';

/** A working local config: everything under ./cairn-data, tasks in bubblewrap sandboxes. */
const starterConfig = `# Cairn server configuration (cairn init). Paths are relative to this file.
dataDirectory: ./cairn-data
server:
  host: 127.0.0.1   # loopback: a single operator on this machine
  port: 7600
executor:
  kind: local           # or fargate: each item an ECS Fargate task (needs S3 storage and a KMS cipher; docs/operations/aws.md)
  sandbox: bubblewrap   # 'none' runs tasks unsandboxed: development only
engine:
  concurrency: 16
# Agent runtimes items may name as runtime.adapter (none: agent items are refused at submit).
# API keys are secrets, by name: cairn secret set OPENAI_API_KEY. See docs/operations/configuration.md.
# runtimes:
#   openai-compatible: { baseUrl: https://api.openai.com/v1, model: gpt-4.1, apiKeySecret: OPENAI_API_KEY }
#   claude-code: { command: claude, apiKeySecret: ANTHROPIC_API_KEY }
`;

/** What `cairn init` made. */
export interface InitResult {
  readonly configFile: string;
  readonly dataDirectory: string;
  /** The signing key's id: pin it in verifiers (`cairn verify --trusted-key`). */
  readonly keyId: string;
  /** The operator's admin token, shown this once (only its hash is kept). */
  readonly operatorToken: string;
}

/**
 * Writes a working local config in `directory`, its data directory (0711) and the server's keys
 * (0600, created once, never replaced). An existing config is refused: init never overwrites.
 * With `refuseUnreachableSandboxes` (`cairn init`), a directory whose folders sandboxes could not
 * pass through is refused, leaving nothing behind (`sandbox-reach.ts`), unless `env` (this
 * process's by default) turns sandboxes off; programs that init a server only to run it
 * unsandboxed leave it off.
 */
export async function initServer(
  directory: string,
  options: { readonly refuseUnreachableSandboxes?: boolean; readonly env?: NodeJS.ProcessEnv } = {},
): Promise<InitResult> {
  const base = resolve(directory);
  const existing = configFileNames.map((name) => join(base, name)).find((path) => existsSync(path));
  if (existing)
    throw new CairnError('CAIRN_CONFIG_INVALID', `${existing} exists already: cairn init never overwrites a config. Edit it, or init another directory.`, {
      path: existing,
    });
  mkdirSync(base, { recursive: true });
  const configFile = join(base, 'cairn.config.yaml');
  writeFileSync(configFile, starterConfig, { flag: 'wx' });
  if (options.refuseUnreachableSandboxes) {
    // As `cairn serve` will read it, with this environment's overrides (CAIRN_SANDBOX=none runs no
    // sandbox); refused, the config just written goes again, and nothing else was made.
    const served = loadServerConfig({ file: configFile, env: options.env ?? process.env });
    const unreachable = sandboxesOnThisMachine(served) ? sandboxReachRefusal(served.paths.work, workRootOption(served)) : undefined;
    if (unreachable) {
      rmSync(configFile);
      throw unreachable;
    }
  }
  const { paths } = loadServerConfig({ file: configFile, env: {} });
  // Passable but not listable by others: sandboxes start as their own uids and must reach their
  // workspaces under it; the keys inside are 0600 in a 0700 folder.
  mkdirSync(paths.dataDirectory, { recursive: true, mode: 0o711 });
  // Set again: mkdir's mode passes through the umask, and a umask of 077 would close it to them.
  chmodSync(paths.dataDirectory, 0o711);
  const signer = createLocalSigner({ keyFile: paths.signingKey, create: true });
  createLocalCipher({ keyFile: paths.cipherKey, create: true });
  const { token } = await new FileTokenStore(paths.tokens).create('operator', ['admin']);
  return { configFile, dataDirectory: paths.dataDirectory, keyId: await signer.keyId(), operatorToken: token };
}
