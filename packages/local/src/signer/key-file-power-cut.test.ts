// A key file made on a disk whose power is then cut: the key is there, whole, and nothing else is —
// no copy of the secret under a temporary name (which a flush of the folder before the temporary
// was removed would have kept).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { usePowerCutFileSystem } from '@cairn/conformance/faults';
import { expect, test } from 'vitest';
import { createLocalCipher } from '../cipher/local-cipher.ts';
import { createLocalSigner } from './local-signer.ts';

const power = usePowerCutFileSystem();

test('keys made with create: true survive a power cut whole, and leave no temporary copy behind', async () => {
  const folder = join(power.path, 'keys');
  const signer = createLocalSigner({ keyFile: join(folder, 'signing.pem'), create: true });
  createLocalCipher({ keyFile: join(folder, 'cipher.key'), create: true });
  const keys = { signing: readFileSync(join(folder, 'signing.pem')), cipher: readFileSync(join(folder, 'cipher.key')) };
  await power.cut();
  expect(readdirSync(folder).sort()).toEqual(['cipher.key', 'signing.pem']);
  expect(readFileSync(join(folder, 'signing.pem'))).toEqual(keys.signing);
  expect(readFileSync(join(folder, 'cipher.key'))).toEqual(keys.cipher);
  expect(await createLocalSigner({ keyFile: join(folder, 'signing.pem') }).keyId()).toBe(await signer.keyId());
});
