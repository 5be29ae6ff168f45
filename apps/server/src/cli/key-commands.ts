import { configOption, json, program, say } from './cli-program.ts';
import { loadServerConfigLazily } from './lazy-server-config.ts';

/** `cairn key id`: the id of this server's signing key, the one verifiers pin (`cairn verify --trusted-key`). */
export function addKeyCommands(): void {
  const key = program.command('key').description("this server's signing key, as verifiers pin it");
  key
    .command('id')
    .description('print the signing key id (sha256 of its public key): give it to whoever verifies your evidence')
    .action(async () => {
      // The signer the config names: the key file, or the KMS key's public key asked of KMS.
      const { serverSigningKey } = await import('../capabilities/evidence/server-trust.ts');
      const { keyId, algorithm } = await serverSigningKey(await loadServerConfigLazily(configOption()));
      say(json() ? JSON.stringify({ keyId, algorithm }) : keyId);
    });
}
