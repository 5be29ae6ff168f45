import { createLocalSigner } from '@cairn/local';
import { loadServerConfig } from '../config/load-server-config.ts';
import { configOption, json, program, say } from './cli-program.ts';

/** `cairn key id`: the id of this server's signing key, the one verifiers pin (`cairn verify --trusted-key`). */
export function addKeyCommands(): void {
  const key = program.command('key').description("this server's signing key, as verifiers pin it");
  key
    .command('id')
    .description('print the signing key id (sha256 of its public key): give it to whoever verifies your evidence')
    .action(async () => {
      const { paths } = loadServerConfig(configOption());
      const signer = createLocalSigner({ keyFile: paths.signingKey });
      const keyId = await signer.keyId();
      say(json() ? JSON.stringify({ keyId, algorithm: signer.algorithm }) : keyId);
    });
}
