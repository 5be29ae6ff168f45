// Run as a process of its own by the signer tests: `node --conditions=@cairn/source
// signer-key-id.test-support.ts <key file>` builds a signer with `create: true` and prints its key
// id, so the test can start several at once on one missing key file and see that all agree.
import { createLocalSigner } from './local-signer.ts';

const signer = createLocalSigner({ keyFile: process.argv[2]!, create: true });
process.stdout.write(`${await signer.keyId()}\n`);
